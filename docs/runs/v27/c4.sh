#!/bin/bash
# v27 c4 (1 GPU): main (M3 = v27's merges) - `flashmoe bench --sweeps single,gated` beside every
# baseline in the same run (cuBLAS ideal, torch._grouped_mm, PyTorch, Liger-Kernel 0.8.5); ncu of
# 16384/32; then `bench --sweeps decode`.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
trap 'cp /tmp/p/bench/*.csv $OUT/ 2>/dev/null; cp /tmp/o/bench*.log $OUT/' EXIT
pip install --no-deps --no-index --target /tmp/lk .gpuws/liger_kernel-0.8.5-py3-none-any.whl > /tmp/o/pip.log 2>&1; echo "liger pip rc=$?"
export PYTHONPATH=/tmp/lk FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py
mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 400 /tmp/p/M3/bin-bin-flashmoe bench --sweeps single,gated > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -vE "^\s*$|^flashmoe T=" /tmp/o/bench.log | tail -45
M="--metrics dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,gpu__time_duration.sum,sm__warps_active.avg.pct_of_peak_sustained_active,sm__cycles_elapsed.avg.per_second"
timeout -k 2 60 ncu --clock-control none $M -k regex:moe_forward -s 2 -c 1 /tmp/p/M3/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 1 --iters 3 > /tmp/o/ncu.log 2>&1; echo "=== ncu [16384/32] rc=$?"; grep -E "dram__|lts__|hmma|duration|warps_active|per_second" /tmp/o/ncu.log
left=$((560 - SECONDS)); echo "decode sweep budget ${left}s"
if [ $left -gt 60 ]; then cd /tmp/p/bench && timeout -k 5 $left /tmp/p/M3/bin-bin-flashmoe bench --sweeps decode > /tmp/o/bench-decode.log 2>&1; echo "decode rc=$? at ${SECONDS}s"; cd - > /dev/null; grep -vE "^\s*$" /tmp/o/bench-decode.log | tail -30; fi
echo "=== elapsed ${SECONDS}s"
