#!/bin/bash
# session 14, call 2 (1 GPU): branch row-tma (R): GEMM0's gathered A rows by one TMA box per row. Standalone tile
# (correctness of the three A sources, throughput), the bitwise test, the suites on both engines, A/B R vs
# R --no-row-tma (same binary, cp.async path) on 7 layers, timeline; racecheck on the standalone ws tile.
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/r.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
K=/tmp/p/R; B=$K/bin-bin-flashmoe
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $K/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL|TFLOP/s|row_tma=" /tmp/t.log | cut -c1-200 | head -24; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-ws_tile "" 90
t X=1 test-test-ws_forward "" 90
t X=1 test-test-moe_single_gpu "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-forward_graph "" 90
med() { grep -oP "forward: median \K[0-9.]+ ms \(min [0-9.]+\)" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"; X="--hidden 4096 --inter 14336 --experts 8"
i=0
for cfg in "--tokens 16384 --experts 32" "$G --tokens 16384 --experts 32" "--tokens 8192 --experts 64" "$G --tokens 8192 --experts 64" "--tokens 4096 --experts 64" "--tokens 4096 --experts 128" "$G $X --tokens 4096"; do for rep in 1 2; do for v in "" "--no-row-tma"; do i=$((i+1))
  timeout -k 2 90 $B run --gpus 1 $cfg $v --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] ${v:-row-tma}: rc=$? $(med) $(grep -c PASS /tmp/r.log)pass $(grep -oP 'output hash, rank 0: \K\S+' /tmp/r.log)"; cp /tmp/r.log /tmp/o/run-$i.log; done; done; done
echo "=== A/B done at ${SECONDS}s"
for v in "" "--no-row-tma"; do timeout -k 2 60 $B run --gpus 1 --tokens 16384 --experts 32 $v --verify-tokens 1 --iters 5 --timeline > /tmp/o/timeline${v}.log 2>&1; echo "timeline ${v:-row-tma} rc=$?"; grep -E "last task end|exit  |OS block|processors" /tmp/o/timeline${v}.log; done
s=$SECONDS; timeout -k 2 100 compute-sanitizer --tool racecheck --print-limit 8 $K/test-test-ws_tile --include-ignored --test-threads=1 matches_the_cpu > /tmp/o/race-ws-tile.log 2>&1; echo "racecheck ws_tile rc=$? in $((SECONDS-s))s $(grep -E 'RACECHECK SUMMARY|test result' /tmp/o/race-ws-tile.log | tr '\n' ' ')"; grep -E "Race reported|Write access|Read access" /tmp/o/race-ws-tile.log | head -8
echo "=== elapsed ${SECONDS}s"
