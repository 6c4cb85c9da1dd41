#!/bin/bash
# v39 c2 (1 GPU). M = main 7c1802d, S = the sweep for up to 8 tokens (experts of 3+ rows on
# tensor cores) with c1's follow-up: past four tokens the gate split over the blocks, eight
# tokens routed in one step. S's lean_forward suite (the fixed odd-size cases), kernel ms M by
# default vs S with the sweep forced, two timelines, compute-sanitizer on the MMA sweep.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1${3:-}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | head -2; }
t S X=1 test-test-lean_forward
MIX="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu"
D="--hidden 2048 --inter 2048"
for cfg in "--tokens 8 $D --experts 8" "--tokens 8 $D --experts 16" "--tokens 8 $D --experts 64" "--tokens 8 $D --experts 128" "--tokens 4 $D --experts 8" "--tokens 4 $D --experts 64" "--tokens 6 $D --experts 8" "--tokens 6 $D --experts 32" "--tokens 8 $D --experts 8 --gated --activation silu" "--tokens 8 $D --experts 64 --gated --activation silu" "--tokens 5 $D --experts 32 --top-k 4" "--tokens 8 --hidden 1024 --inter 1024 --experts 32"; do
  echo -n "[$cfg]"; r M "$cfg"; r S "$cfg --lean-sweep" s; r M "$cfg"; r S "$cfg --lean-sweep" s; echo; done
echo "=== bench1 done ${SECONDS}s"
for cfg in "--tokens 8 $MIX" "--tokens 4 $MIX"; do echo -n "[$cfg]"; r M "$cfg"; r S "$cfg --lean-sweep" s; echo; done
echo "=== bench2 done ${SECONDS}s"
for e in 8 64; do
timeout -k 2 90 /tmp/p/S/bin-bin-flashmoe run --gpus 1 --tokens 8 $D --experts $e --lean-sweep --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- S sweep timeline T=8 E=$e $(med)"; grep -E "^  (logits|routing|first|barrier|last|exit)" /tmp/r.log
done
B=/tmp/p/S/bin-bin-flashmoe
for cfg in "--tokens 8 --hidden 512 --inter 384 --experts 8 --gated --bias --activation silu" "--tokens 6 --hidden 320 --inter 192 --experts 16 --top-k 3"; do
for tool in memcheck racecheck synccheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool --error-exitcode 9 $B run --gpus 1 --lean-sweep --max-blocks 9 $cfg --timeout-ms 120000 --verify-tokens 8 --iters 1 > /tmp/o/s-$tool.log 2>&1
  echo "=== $tool rc=$? [$cfg] $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Race reported|Error:|rror" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
done; done
echo "=== elapsed ${SECONDS}s"
