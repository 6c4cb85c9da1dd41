#!/bin/bash
# v39 c4 (1 GPU). M = main 7c1802d, S = v39 with heuristics::lean_sweep at 2·T·k <= 3·E, T <= 8.
# lean_forward by default and with the sweep forced; spot checks at the heuristic's edges (M
# default vs S default, and forced); ncu of the MMA sweep and of M's static plan at T = 8,
# E = 16, H = I = 2048 (tensor pipe, DRAM bytes, stalls).
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
trap 'cp /tmp/o/ncu-*.txt $OUT/ 2>/dev/null' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1${3:-}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)$(grep -oP 'run \Kmoe_\w+' /tmp/r.log | tail -1)"; grep -E "rror" /tmp/r.log | head -2; }
t S X=1 test-test-lean_forward
t S FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
D="--hidden 2048 --inter 2048"
for cfg in "--tokens 8 $D --experts 12" "--tokens 6 $D --experts 8" "--tokens 2 $D --experts 2" "--tokens 8 $D --experts 16 --gated --activation silu" "--tokens 1 $D --experts 8" "--tokens 3 $D --experts 8 --gated --activation silu"; do
  echo -n "[$cfg]"; r M "$cfg"; r S "$cfg" d; r S "$cfg --lean-sweep" s; r M "$cfg"; r S "$cfg" d; echo; done
echo "=== bench done ${SECONDS}s"
N="--section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section WarpStateStats --metrics sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes_read.sum"
for x in "S moe_sweep" "M moe_"; do set -- $x
timeout -k 2 120 ncu --clock-control none $N -k regex:$2 -s 2 -c 1 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 --tokens 8 $D --experts 16 --verify-tokens 1 --iters 3 > /tmp/o/ncu-$1.txt 2>&1
echo "--- ncu $1 rc=$? at ${SECONDS}s"; grep -E " moe_|Duration|DRAM Throughput|dram__bytes|hmma|L2 Hit|Warp Cycles Per Issued|Stall" /tmp/o/ncu-$1.txt | tr -s ' ' | head -12
done
echo "=== elapsed ${SECONDS}s"
