#!/bin/bash
# v28 c7 (1 GPU): R = branch gemm1-runs-knob (main e01ae1b + Tuning::gemm1_runs). GEMM1 tasks per
# run of row tiles (n-major, one W2 panel streamed once per run) against per tile (the heuristic at
# I = 2048), where c3 found 8192/64 moving ~0.66 GB more than it needs; ncu DRAM bytes of both.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c7.tar.xz -C /tmp/p
B=/tmp/p/R/bin-bin-flashmoe
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 8192 --experts 64" "--tokens 16384 --experts 32" "--tokens 16384 --experts 64" "--tokens 16384 --experts 128" "--tokens 8192 --experts 32" "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 8192 --experts 64 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in "--no-gemm1-runs" "--gemm1-runs"; do
    timeout -k 2 90 $B run --gpus 1 $cfg $v --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line ${v#--}:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== A/B done at ${SECONDS}s"
M="--metrics dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,gpu__time_duration.sum"
for v in "--no-gemm1-runs" "--gemm1-runs"; do
  timeout -k 2 60 ncu --clock-control none $M -k regex:moe_forward -s 2 -c 1 $B run --gpus 1 --tokens 8192 --experts 64 $v --verify-tokens 1 --iters 3 > /tmp/o/ncu.log 2>&1; echo "=== ncu 8192/64 $v rc=$?"; grep -E "dram__|lts__|duration" /tmp/o/ncu.log
done
echo "=== elapsed ${SECONDS}s"
