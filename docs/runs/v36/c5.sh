#!/bin/bash
# v36 c5 (1 GPU): main with GEMM1's column pairs (F). The suites by default and with the sweep
# forced (moe_reliability forced was cut off in c4), the graph suite with its host-time report,
# and the sweep's layers by default (the heuristics' choice) for the perf log.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
t F FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_reliability
t F X=1 test-test-lean_forward
t F X=1 test-test-forward_graph
grep -E "  (forward_device|graph replay|kernel)" /tmp/o/t-F-test-test-forward_graph-X.log | cut -c1-130
t F X=1 test-test-moe_single_gpu 200
for cfg in "--tokens 1 --hidden 2048 --inter 2048 --experts 8" "--tokens 3 --hidden 2048 --inter 2048 --experts 8" "--tokens 1 --hidden 1536 --inter 1536 --experts 8 --gated --activation silu" "--tokens 1 --hidden 4096 --inter 4096 --experts 8" "--tokens 1 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu"; do
  timeout -k 2 90 /tmp/p/F/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] default=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done
echo "=== elapsed ${SECONDS}s"
