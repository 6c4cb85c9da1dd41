#!/bin/bash
# session 10, call 2: fused decode slices with the stream prologue unhinted (ptxas odd-UR descriptor bug)
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/b.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
N=/tmp/p/N
export NVSHMEM_HOME=$(python3 -c "import nvidia, os; print([os.path.join(p,'nvshmem') for p in nvidia.__path__ if os.path.isdir(os.path.join(p,'nvshmem'))][0])")
export FLASHMOE_BIN=$N/bin-bin-flashmoe
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.mem --format=csv,noheader
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $N/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|bitwise|error|^test .*FAIL|forward_device \(|graph replay +mean" /tmp/t.log | cut -c1-220 | head -8; cp /tmp/t.log /tmp/o/$2-$(echo $1 | tr -dc 'A-Z0-9' | tail -c 12).log; }
t X=1 test-test-moe_single_gpu "" 120
timeout -k 2 60 $N/bin-bin-flashmoe info > /tmp/o/info.log 2>&1; echo "info rc=$?"; grep -iE "stream|read|GB/s" /tmp/o/info.log | head -8
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"
X="--hidden 4096 --inter 14336 --experts 8"
i=0
for cfg in "$G $X --tokens 1" "$G $X --tokens 4" "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 1 --experts 64" "--tokens 2 --experts 64" "--tokens 4 --experts 64" "--tokens 4 --experts 8"; do
  for v in "" "--no-fused-slices" "" "--no-fused-slices"; do
    i=$((i+1))
    timeout -k 2 40 $N/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 40 --timeline $v > /tmp/r.log 2>&1
    echo "[$cfg] ${v:-fused}: rc=$? $(med) ms $(grep -c PASS /tmp/r.log)pass | $(grep -iE 'fused|first task|last task|kernel' /tmp/r.log | tr -s ' ' | head -3 | cut -c1-70 | tr '\n' '|')"
    cp /tmp/r.log /tmp/o/run-$i.log
  done
done
echo "=== A/B done at $SECONDS"
R="run --gpus 1 --tokens 1 --hidden 256 --inter 256 --experts 8 --iters 1 --verify-tokens 1"
R2="run --gpus 1 --tokens 3 --experts 16 --iters 1 --verify-tokens 3"
for tool in memcheck racecheck synccheck; do
  s=$SECONDS
  timeout -k 5 100 compute-sanitizer --tool $tool --print-limit 20 $N/bin-bin-flashmoe $R > /tmp/o/san-$tool.log 2>&1
  echo "=== $tool rc=$? in $((SECONDS-s))s: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|hazard' /tmp/o/san-$tool.log | head -3 | tr '\n' '|') $(grep -c PASS /tmp/o/san-$tool.log)pass"
done
s=$SECONDS; timeout -k 5 100 compute-sanitizer --tool memcheck --print-limit 20 $N/bin-bin-flashmoe $R2 > /tmp/o/san-m2.log 2>&1
echo "=== memcheck T=3 E=16 rc=$? in $((SECONDS-s))s: $(grep -E 'ERROR SUMMARY' /tmp/o/san-m2.log | head -2 | tr '\n' '|') $(grep -c PASS /tmp/o/san-m2.log)pass"
M="sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes_read.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,gpu__time_duration.sum,smsp__warp_issue_stalled_barrier_per_warp_active.pct,smsp__warp_issue_stalled_long_scoreboard_per_warp_active.pct,smsp__warp_issue_stalled_lg_throttle_per_warp_active.pct,smsp__warp_issue_stalled_wait_per_warp_active.pct,smsp__warp_issue_stalled_sleeping_per_warp_active.pct,lts__t_sector_hit_rate.pct"
timeout -k 2 120 ncu --clock-control none --metrics $M -k regex:moe_forward -c 1 $N/bin-bin-flashmoe run --gpus 1 $G $X --tokens 1 --iters 1 --verify-tokens 1 > /tmp/o/ncu.log 2>&1; echo "ncu rc=$?"
grep -E "moe_forward|^\s+(sm__|dram__|gpu__|smsp__|lts__)" /tmp/o/ncu.log | tr -s ' ' | head -14
t X=1 test-test-forward_graph "" 90
t X=1 test-test-moe_reliability "" 120
echo "=== elapsed $SECONDS"
