#!/bin/bash
# session 18, call 7 (1 GPU): main (kernels as afdc92d) - ncu of SwiGLU 16384/32, own rows streamed vs copied in the dispatch (v24).
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c7.tar.xz -C /tmp/p
M="--metrics dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,gpu__time_duration.sum,sm__cycles_elapsed.avg.per_second"
for a in "" "--no-stream-rows"; do
  timeout -k 2 60 ncu --clock-control none $M -k regex:moe_forward -s 2 -c 1 /tmp/p/M/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --gated --activation silu $a --verify-tokens 1 --iters 3 > /tmp/ncu.log 2>&1; echo "=== ncu SwiGLU 16384/32 [${a:-stream}] rc=$?"; grep -E "dram__|lts__|hmma|duration|per_second" /tmp/ncu.log; done
echo "=== elapsed ${SECONDS}s"
