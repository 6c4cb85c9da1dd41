#!/bin/bash
# v37 c4 (1 GPU). S2 = main (c2-c3), G = the sweep's gate split over blocks for E > 8 (block b
# computes expert groups b, b + grid, ... of eight, a grid barrier, every block routes). Kernel
# ms with the sweep forced, alternating, and the static plan beside; G's timeline at E = 64;
# G's suites with the sweep forced; compute-sanitizer on G with several groups a block.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
D="--hidden 2048 --inter 2048"
for cfg in "--tokens 1 $D --experts 16" "--tokens 1 $D --experts 64" "--tokens 1 $D --experts 128" "--tokens 1 $D --experts 256" "--tokens 2 $D --experts 64" "--tokens 3 $D --experts 64" "--tokens 1 $D --experts 64 --gated --activation silu" "--tokens 1 $D --experts 32 --top-k 4" "--tokens 1 $D --experts 8"; do
  line="[$cfg]"; for rep in 1 2; do for v in S2 G; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --lean-sweep --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; done; done
  timeout -k 2 90 /tmp/p/G/bin-bin-flashmoe run --gpus 1 $cfg --no-lean-sweep --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line static=$(med)"
  echo "$line"; grep -E "rror" /tmp/r.log | head -3; done
MIX="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu"
line="[Mixtral T=1]"; for v in S2 G S2 G; do timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 --tokens 1 $MIX --lean-sweep --verify-tokens 1 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)#$(hsh)"; done; echo "$line"
echo "=== bench done ${SECONDS}s"
for v in S2 G; do timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 --tokens 1 $D --experts 64 --lean-sweep --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- $v sweep timeline T=1 E=64 $(med)"; grep -E "^  (logits|routing|barrier|first|last|exit)" /tmp/r.log; done
t G X=1 test-test-lean_forward
t G FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t G FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_reliability
t G FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_single_gpu 200
echo "=== tests done ${SECONDS}s"
for args in "--tokens 2 --hidden 256 --inter 512 --experts 64 --max-blocks 2" "--tokens 3 --hidden 256 --inter 320 --experts 12 --gated --bias --activation silu --max-blocks 9"; do
for tool in memcheck racecheck synccheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool /tmp/p/G/bin-bin-flashmoe run --gpus 1 --lean-sweep $args --timeout-ms 60000 --verify-tokens 3 --iters 2 > /tmp/o/s-$tool.log 2>&1
  echo "=== CSAN $tool [$args] rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Error:|Race reported" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -3
done; done
echo "=== elapsed ${SECONDS}s"
