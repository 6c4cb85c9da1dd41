#!/bin/bash
# v39 c8 (1 GPU). W = R2 (experts of 2+ rows on tensor cores) + block shares weighed by cost
# (a tensor-core column 5, a one-row dot column 3: every block reaches the barriers together).
# W's lean_forward forced and by default, compute-sanitizer on a mixed-cost sweep, then kernel
# ms with the sweep forced: M by default, R2, W; nothing dropped (cf0) and capped (cf1).
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c8.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1${3:-}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | grep -v "rel L2" | head -2; }
t W FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t W X=1 test-test-lean_forward
for tool in memcheck racecheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool --error-exitcode 9 /tmp/p/W/bin-bin-flashmoe run --gpus 1 --lean-sweep --max-blocks 9 --tokens 8 --hidden 512 --inter 384 --experts 16 --capacity-factor 0 --gated --activation silu --timeout-ms 120000 --verify-tokens 8 --iters 1 > /tmp/o/s-$tool.log 2>&1
  echo "=== $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
done
D="--hidden 2048 --inter 2048"
for cfg in "--tokens 8 $D --experts 16 --capacity-factor 0" "--tokens 8 $D --experts 64 --capacity-factor 0" "--tokens 8 $D --experts 32 --capacity-factor 0" "--tokens 4 $D --experts 8 --capacity-factor 0" "--tokens 8 $D --experts 8 --capacity-factor 0" "--tokens 8 $D --experts 8 --gated --activation silu --capacity-factor 0" "--tokens 6 $D --experts 16 --capacity-factor 0" "--tokens 8 $D --experts 16" "--tokens 5 $D --experts 32 --top-k 4" "--tokens 8 $D --experts 64"; do
  echo -n "[$cfg]"; r M "$cfg"; r R2 "$cfg --lean-sweep" s; r W "$cfg --lean-sweep" s; echo; done
echo "=== elapsed ${SECONDS}s"
