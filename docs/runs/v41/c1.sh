#!/bin/bash
# v41 c1 (1 GPU). M = main a7142bb (e056df2's share walk and a7142bb, never run on a GPU): its
# suites (lean_forward by default and with the sweep forced, moe_single_gpu, forward_graph),
# racecheck + synccheck + memcheck on drop-less MMA sweeps, ncu of the sweep at T = 8, E = 8
# drop-less after v40's 256-byte loads, spot benches, and timelines for what to try next
# (Mixtral-size T = 8 sweep vs static; 16384/32 prologue).
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
trap 'cp /tmp/o/ncu-*.txt $OUT/ 2>/dev/null' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1${3:-}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)$(grep -oP 'run \Kmoe_\w+' /tmp/r.log | tail -1)"; grep -E "rror" /tmp/r.log | head -2; }
t M X=1 test-test-lean_forward
t M FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t M X=1 test-test-moe_single_gpu 300
t M X=1 test-test-forward_graph 200
grep -E "us|median" /tmp/o/t-M-test-test-forward_graph-X.log | head -12
B=/tmp/p/M/bin-bin-flashmoe
for cfg in "--tokens 8 --hidden 512 --inter 384 --experts 8 --gated --bias --activation silu" "--tokens 6 --hidden 320 --inter 192 --experts 16 --top-k 3"; do
for tool in memcheck racecheck synccheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool --error-exitcode 9 $B run --gpus 1 --lean-sweep --capacity-factor 0 --max-blocks 9 $cfg --timeout-ms 120000 --verify-tokens 8 --iters 1 > /tmp/o/s-$tool.log 2>&1
  echo "=== $tool rc=$? [$cfg] $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Race reported|Error:|rror" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
done; done
echo "=== sanitizers done ${SECONDS}s"
D="--hidden 2048 --inter 2048 --capacity-factor 0"
for cfg in "--tokens 8 $D --experts 8" "--tokens 8 $D --experts 16" "--tokens 1 $D --experts 8"; do
  echo -n "[$cfg]"; r M "$cfg"; r M "$cfg --no-lean" n; echo; done
N="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --metrics sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes_read.sum"
timeout -k 2 120 ncu --clock-control none $N -k regex:moe_sweep -s 2 -c 1 $B run --gpus 1 --tokens 8 $D --experts 8 --lean-sweep --verify-tokens 1 --iters 3 > /tmp/o/ncu-sweep.txt 2>&1
echo "--- ncu rc=$? at ${SECONDS}s"; grep -E " moe_|Duration|DRAM Throughput|dram__bytes|hmma|L2 Hit|Warp Cycles Per Issued" /tmp/o/ncu-sweep.txt | tr -s ' ' | head -12
MX="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
for extra in "--lean-sweep" "--no-lean"; do
timeout -k 2 90 $B run --gpus 1 --tokens 8 $MX $extra --verify-tokens 1 --iters 10 --timeline > /tmp/r.log 2>&1; echo "--- Mixtral T=8 $extra timeline $(med)"; grep -E "^  " /tmp/r.log | head -24
done
timeout -k 2 90 $B run --gpus 1 --tokens 16384 --hidden 2048 --inter 2048 --experts 32 --verify-tokens 2 --iters 10 --timeline > /tmp/r.log 2>&1; echo "--- 16384/32 timeline $(med)"; grep -E "^  " /tmp/r.log | head -30
echo "=== elapsed ${SECONDS}s"
