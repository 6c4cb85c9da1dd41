#!/bin/bash
# v38 c4 (1 GPU). F = main 797cd02 (route_and_rank; the sweep's ungated GEMM0 by column pairs).
# The sm_80 build's sweep through the suites (JIT on the H200), the decode sweep with PyTorch
# beside it (from the repository root), the sweep's timeline at Mixtral size T = 1 with every
# mark, and ncu on that forward.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
trap 'cp /tmp/o/ncu-*.txt $OUT/ 2>/dev/null' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
FLASHMOE_TEST_ARCH=sm_80 t F FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
FLASHMOE_TEST_ARCH=sm_80 t F FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_reliability
MIX="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu"
timeout -k 2 90 /tmp/p/F/bin-bin-flashmoe run --gpus 1 --tokens 1 $MIX --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- F default timeline Mixtral T=1 $(med)"; grep -E "^  [a-z]" /tmp/r.log | head -14
timeout -k 5 300 /tmp/p/F/bin-bin-flashmoe bench --sweeps decode > $OUT/bench-decode.log 2>&1; echo "decode rc=$? at ${SECONDS}s"
grep -A22 "^tokens" $OUT/bench-decode.log
S="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy"
timeout -k 2 120 ncu --clock-control none $S -k regex:moe_sweep -s 2 -c 1 /tmp/p/F/bin-bin-flashmoe run --gpus 1 --tokens 1 $MIX --verify-tokens 1 --iters 3 > /tmp/o/ncu-F.txt 2>&1
echo "--- ncu F rc=$? at ${SECONDS}s"; grep -E "Duration|DRAM Throughput|L2 Hit|Warp Cycles Per Issued|Achieved Active Warps" /tmp/o/ncu-F.txt | tr -s ' ' | head -8
echo "=== elapsed ${SECONDS}s"
