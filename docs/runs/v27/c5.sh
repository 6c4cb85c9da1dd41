#!/bin/bash
# v27 c5 (1 GPU): main (M3) - `flashmoe bench --sweeps gated` without Liger (c4's gated sweep ran
# out of time in Liger's Triton autotune): the gated layers beside the cuBLAS ideal, grouped_mm
# and PyTorch in one run.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
trap 'cp /tmp/p/bench/*.csv $OUT/ 2>/dev/null; cp /tmp/o/bench*.log $OUT/' EXIT
export FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py
mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 200 /tmp/p/M3/bin-bin-flashmoe bench --sweeps gated > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -vE "^\s*$|^flashmoe T=" /tmp/o/bench.log | tail -20
echo "=== elapsed ${SECONDS}s"
