#!/bin/bash
# v35 c8 (1 GPU). M = main after the merges: lean_forward and forward_graph by default and with
# the sweep forced (SF2's out-of-line sweep was not run through them in c7); then ncu on the
# sweep (forced) and on the static plan at Mixtral-size T = 1, to check c5's hypothesis that the
# sweep's vector loads, not their count, hold it at 3.4-3.8 TB/s.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c8.tar.xz -C /tmp/p
trap 'cp /tmp/o/ncu-*.txt $OUT/ 2>/dev/null' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
t M X=1 test-test-lean_forward
t M FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t M X=1 test-test-forward_graph
t M FLASHMOE_TEST_LEAN_SWEEP=1 test-test-forward_graph
grep -iE "  (forward_device|graph replay|kernel)" /tmp/o/t-M-test-test-forward_graph-X.log | cut -c1-140 | head -3
S="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats"
MIX="--tokens 1 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu"
for v in "sweep --lean-sweep moe_lean" "static --no-lean-sweep moe_forward"; do set -- $v
  timeout -k 2 150 ncu --clock-control none $S -k regex:$3 -s 2 -c 1 /tmp/p/M/bin-bin-flashmoe run --gpus 1 $MIX $2 --verify-tokens 1 --iters 3 > /tmp/o/ncu-$1.txt 2>&1
  echo "--- ncu $1 rc=$? at ${SECONDS}s"; grep -E "Duration|DRAM Throughput|L1/TEX Hit|L2 Hit|Mem Busy|Max Bandwidth|Mem Pipes Busy|Warp Cycles Per Issued|Stall|Achieved Occupancy|Memory Throughput" /tmp/o/ncu-$1.txt | tr -s ' ' | head -16
done
echo "=== elapsed ${SECONDS}s"
