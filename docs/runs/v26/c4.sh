#!/bin/bash
# session 19, call 4 (1 GPU): M = main 5e6f040 (warp-local epilogue) - `flashmoe bench --sweeps single,gated` beside every
# baseline in the same run (cuBLAS ideal, torch._grouped_mm, PyTorch, Liger-Kernel 0.8.5); then
# ncu of 16384/32, 128/64 and Mixtral-size, M vs R (main before the epilogue change).
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
trap 'cp /tmp/p/bench/*.csv $OUT/ 2>/dev/null; cp /tmp/o/bench.log $OUT/' EXIT
pip install --no-deps --no-index --target /tmp/lk .gpuws/liger_kernel-0.8.5-py3-none-any.whl > /tmp/o/pip.log 2>&1; echo "liger pip rc=$?"
export PYTHONPATH=/tmp/lk FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py
mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 420 /tmp/p/M/bin-bin-flashmoe bench --sweeps single,gated > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -vE "^\s*$|^flashmoe T=" /tmp/o/bench.log | tail -45
M="--metrics dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,gpu__time_duration.sum,sm__warps_active.avg.pct_of_peak_sustained_active,sm__cycles_elapsed.avg.per_second"
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0 --tokens 4096"
for v in M R; do for cfg in "--tokens 16384 --experts 32" "--tokens 128 --experts 64" "$X"; do
  timeout -k 2 90 ncu --clock-control none $M -k regex:moe_forward -s 2 -c 1 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 3 > /tmp/o/ncu.log 2>&1; echo "=== ncu $v [$cfg] rc=$?"; grep -E "dram__|lts__|hmma|duration|warps_active|per_second" /tmp/o/ncu.log; done; done
echo "=== elapsed ${SECONDS}s"
