#!/bin/bash
# session 11, call 1 (1 GPU): v17-candidate (8b1ca19: cubins + bounded set-up) checks, then where the ws task's time goes at 16384/32
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/b.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
N=/tmp/p/N; B=$N/bin-bin-flashmoe
export NVSHMEM_HOME=$(python3 -c "import nvidia, os; print([os.path.join(p,'nvshmem') for p in nvidia.__path__ if os.path.isdir(os.path.join(p,'nvshmem'))][0])")
export FLASHMOE_BIN=$B
# 1. start-up: cubin vs the driver's JIT (first load on this machine for each)
for v in "" "FLASHMOE_JIT=1"; do s=$SECONDS; env $v X=1 timeout -k 2 200 $B run --tokens 64 --experts 8 --hidden 128 --inter 128 --iters 0 > /tmp/r.log 2>&1; echo "[$v] rc=$? in $((SECONDS-s))s: $(grep -iE 'kernels|image|cubin' /tmp/r.log | head -2 | tr '\n' ' ') $(grep -c PASS /tmp/r.log)pass"; cp /tmp/r.log /tmp/o/startup-$((SECONDS)).log; done
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $N/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|exited|^test .*FAIL" /tmp/t.log | cut -c1-260 | head -8; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
# 2. correctness on the cubins
t X=1 test-test-moe_single_gpu "" 120
t X=1 test-test-gemm_tile "" 60
t X=1 test-test-ws_tile "" 60
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu "" 90
t X=1 test-test-multiprocess a_rank_missing 90
t X=1 test-test-nvshmem_forward "" 60
t X=1 test-test-forward_graph "" 90
# 3. speed: cubin vs the driver's JIT, same binary
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"; X="--hidden 4096 --inter 14336 --experts 8"
for cfg in "$G $X --tokens 1" "--tokens 128 --experts 64" "--tokens 16384 --experts 32"; do for v in "" "FLASHMOE_JIT=1" "" "FLASHMOE_JIT=1"; do
  env $v X=1 timeout -k 2 90 $B run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] ${v:-cubin}: $(med) ms $(grep -c PASS /tmp/r.log)pass"; done; done
echo "=== speed done at ${SECONDS}s"
# 4. issue 10: the ws task at 16384/32 - timeline, then ncu (sections + per-instruction stall samples)
timeout -k 2 60 $B run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 4 --iters 20 --timeline > /tmp/o/timeline-16k.log 2>&1; echo "timeline rc=$?"; grep -vE "^\s*$" /tmp/o/timeline-16k.log | tail -30
S="--section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats --section SchedulerStats --section SourceCounters --section LaunchStats"
timeout -k 2 240 ncu --clock-control none $S --import-source no -k regex:moe_forward -s 2 -c 1 -o /tmp/o/ws16k $B run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 1 --iters 3 > /tmp/o/ncu-run.log 2>&1; echo "ncu rc=$? at ${SECONDS}s"; tail -3 /tmp/o/ncu-run.log
ncu -i /tmp/o/ws16k.ncu-rep --page details > /tmp/o/ncu-details.txt 2>&1; grep -E "Duration|Tensor|Pipe|Stall|Warp Cycles|Issued|DRAM Through|Memory Through|L2 Hit|Registers|Achieved|Theoretical Occ" /tmp/o/ncu-details.txt | head -40
ncu -i /tmp/o/ws16k.ncu-rep --page source --csv --print-source sass > /tmp/o/ncu-sass.csv 2>/tmp/o/ncu-sass.err; echo "source page rc=$? $(wc -l < /tmp/o/ncu-sass.csv) lines"; head -c 600 /tmp/o/ncu-sass.err
ncu -i /tmp/o/ws16k.ncu-rep --page raw --csv > /tmp/o/ncu-raw.csv 2>&1; gzip -9 /tmp/o/ncu-sass.csv /tmp/o/ncu-raw.csv; ls -la /tmp/o/ws16k.ncu-rep; mv /tmp/o/ws16k.ncu-rep /tmp/
echo "=== elapsed ${SECONDS}s"
