#!/bin/bash
# Session 22, call 3 (nvidia-h200-x2): main c9c8921 (fold-partial + route-consumers).
# N = the NVSHMEM build of main (CLI + multi-GPU tests). The subscriber's loop changed for every
# world size (one publish site; a run goes out at MAX_RUN tiles), so the 2-GPU suites run; then
# the same-run benches on GPU 0 (single sweep; gated sweep beside Liger-Kernel 0.8.5), a decode
# point, and ncu's figures for issue 10 item 6.
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o; cp /tmp/p/bench/*.csv $OUT/ 2>/dev/null' EXIT
N=/tmp/p/N
export NVSHMEM_HOME=$(python3 -c "import nvidia, os; print([os.path.join(p,'nvshmem') for p in nvidia.__path__ if os.path.isdir(os.path.join(p,'nvshmem'))][0])")
export FLASHMOE_BIN=$N/bin-bin-flashmoe
nvidia-smi --query-gpu=index,name --format=csv,noheader
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $N/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL" /tmp/t.log | cut -c1-220 | head -12; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-moe_multi_gpu "" 150
t X=1 test-test-multiprocess "" 150
t X=1 test-test-nvshmem_forward "" 60
pip install --no-deps --no-index --target /tmp/lk .gpuws/liger_kernel-0.8.5-py3-none-any.whl > /tmp/o/pip.log 2>&1; echo "liger pip rc=$?"
export PYTHONPATH=/tmp/lk FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py CUDA_VISIBLE_DEVICES=0
B=$N/bin-bin-flashmoe
mkdir -p /tmp/p/bench && cd /tmp/p/bench
timeout -k 5 120 $B bench --sweeps single > /tmp/o/bench-single.log 2>&1; echo "single rc=$? at ${SECONDS}s"
grep -vE "^\s*$|^flashmoe T=" /tmp/o/bench-single.log | tail -25
for cfg in "--tokens 1 --experts 8" "--hidden 4096 --inter 14336 --experts 8 --tokens 1 --gated --activation silu"; do
  timeout -k 2 90 $B run --gpus 1 $cfg --verify-tokens 1 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] $(grep -oP 'forward: median \K[0-9.]+' /tmp/r.log) ms $(grep -c PASS /tmp/r.log)pass"; done
M="--metrics sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active,sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes_read.sum,dram__bytes_write.sum,sm__warps_active.avg.pct_of_peak_sustained_active,lts__t_sector_hit_rate.pct,gpu__time_duration.sum"
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 128 --experts 64"; do
  timeout -k 2 60 ncu --clock-control none $M -k regex:moe_forward -s 2 -c 1 $B run --gpus 1 $cfg --verify-tokens 1 --iters 3 > /tmp/o/ncu.log 2>&1
  echo "=== ncu [$cfg] rc=$? $(grep -E 'sm__|dram__|lts__|duration' /tmp/o/ncu.log | awk '{printf "%s %s %s; ", $1, $3, $2}')"
done
left=$((585 - SECONDS)); timeout -k 5 $left $B bench --sweeps gated > /tmp/o/bench-gated.log 2>&1; echo "gated rc=$? at ${SECONDS}s"
grep -vE "^\s*$|^flashmoe T=" /tmp/o/bench-gated.log | tail -14
echo "=== elapsed $SECONDS"
