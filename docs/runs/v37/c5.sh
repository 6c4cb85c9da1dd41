#!/bin/bash
# v37 c5 (1 GPU). F = main with the sweep's gate split over blocks and the sweep at any E
# (heuristics). lean_forward (its defaults check the new border) by default and forced,
# forward_graph (tiny layer host time), the decode sweep with PyTorch beside it (from the
# repository root), and ncu on the sweep at T = 1, E = 128 before (S2) and after (F).
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
trap 'cp /tmp/o/ncu-*.txt $OUT/ 2>/dev/null' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
t F X=1 test-test-lean_forward
t F FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t F X=1 test-test-forward_graph
grep -iE "  (forward_device|graph replay|kernel)" /tmp/o/t-F-test-test-forward_graph-X.log | cut -c1-140 | head -3
timeout -k 5 300 /tmp/p/F/bin-bin-flashmoe bench --sweeps decode > $OUT/bench-decode.log 2>&1; echo "decode rc=$? at ${SECONDS}s"
grep -A22 "^tokens" $OUT/bench-decode.log
S="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats"
for v in S2 F; do
  timeout -k 2 120 ncu --clock-control none $S -k regex:moe_sweep -s 2 -c 1 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 --tokens 1 --hidden 2048 --inter 2048 --experts 128 --lean-sweep --verify-tokens 1 --iters 3 > /tmp/o/ncu-$v.txt 2>&1
  echo "--- ncu $v rc=$? at ${SECONDS}s"; grep -E "Duration|DRAM Throughput|L2 Cache Throughput|L2 Hit|Warp Cycles Per Issued" /tmp/o/ncu-$v.txt | tr -s ' ' | head -8
done
echo "=== elapsed ${SECONDS}s"
