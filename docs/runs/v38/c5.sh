#!/bin/bash
# v38 c5 (1 GPU). M = main 797cd02; K = the sweep's gate of at most eight experts split over
# the blocks by K (block b < gate_splits computes K split b, a grid barrier, route_all sums the
# splits in order) instead of every block computing every logit. Kernel ms with the sweep
# forced, alternating; E = 64 (unchanged path) as a control; K's timeline, suites and sanitizer.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
MIX="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu"
for cfg in "--tokens 1 $MIX" "--tokens 2 $MIX" "--tokens 1 --hidden 2048 --inter 2048 --experts 8" "--tokens 3 --hidden 2048 --inter 2048 --experts 8" "--tokens 1 --hidden 4096 --inter 4096 --experts 8" "--tokens 1 --hidden 1024 --inter 1024 --experts 8" "--tokens 1 --hidden 1536 --inter 1536 --experts 8 --gated --activation silu" "--tokens 1 --hidden 2048 --inter 2048 --experts 64"; do
  line="[$cfg]"; for rep in 1 2; do for v in M K; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --lean-sweep --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; done; done
  echo "$line"; grep -E "rror" /tmp/r.log | head -3; done
echo "=== bench done ${SECONDS}s"
for v in M K; do timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 --tokens 1 $MIX --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- $v default timeline Mixtral T=1 $(med)"; grep -E "^  (logits|routing|barrier|first|last|exit)" /tmp/r.log; done
t K X=1 test-test-lean_forward
t K FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t K FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_reliability
t K FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_single_gpu 200
t K FLASHMOE_TEST_LEAN_SWEEP=1 test-test-forward_graph
echo "=== tests done ${SECONDS}s"
for args in "--tokens 3 --hidden 256 --inter 320 --experts 8 --gated --bias --activation silu" "--tokens 4 --hidden 256 --inter 8192 --experts 2 --top-k 2 --bias"; do
for tool in memcheck racecheck synccheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool /tmp/p/K/bin-bin-flashmoe run --gpus 1 --lean-sweep --max-blocks 9 $args --timeout-ms 60000 --verify-tokens 3 --iters 2 > /tmp/o/s-$tool.log 2>&1
  echo "=== CSAN $tool [$args] rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Error:|Race reported" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -3
done; done
echo "=== elapsed ${SECONDS}s"
