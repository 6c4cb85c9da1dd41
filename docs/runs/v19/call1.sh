#!/bin/bash
# next session, call 1 (x2 if lent, else 1 GPU): branch cluster-probe (= main 9a75a46 + the probe), built 2026-11-29 ~22:10.
# Pack: .gpuws/next.tar.xz (dir N). What main has not run: ws on 2 GPUs, sanitizers on the vector epilogues, ncu 128/64.
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/next.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
N=/tmp/p/N; B=$N/bin-bin-flashmoe
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $N/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL|cooperative" /tmp/t.log | cut -c1-220 | head -8; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-cluster_probe "" 60
nvidia-smi -L | wc -l
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_multi_gpu "" 120
for ml in ws wgmma; do for tool in memcheck racecheck synccheck; do
  timeout -k 2 100 compute-sanitizer --tool $tool --print-limit 5 $B run --gpus 1 --tokens 1000 --experts 8 --hidden 256 --inter 512 --gated --bias --activation gelu --mainloop $ml --iters 1 --verify-tokens 4 > /tmp/o/san-$ml-$tool.log 2>&1; echo "sanitizer $tool $ml rc=$? $(grep -E 'ERROR SUMMARY|PASS' /tmp/o/san-$ml-$tool.log | tr '\n' ' ')"; done; done
M="gpu__time_duration.sum,dram__bytes_read.sum,lts__t_sector_hit_rate.pct,sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active,sm__warps_active.avg.pct_of_peak_sustained_active"
timeout -k 2 120 ncu --clock-control none --metrics $M -k regex:moe_forward -s 2 -c 1 $B run --gpus 1 --tokens 128 --experts 64 --iters 3 --verify-tokens 1 > /tmp/o/ncu-128-64.log 2>&1; echo "ncu rc=$?"; grep -E "moe_forward|^\s+(sm__|dram__|gpu__|lts__)" /tmp/o/ncu-128-64.log | tr -s ' ' | head -8
echo "=== elapsed ${SECONDS}s"
