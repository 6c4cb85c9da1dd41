#!/bin/bash
# session 17, call 6 (GPU 0 of nvidia-h200-x2): main 49038b4 - `flashmoe bench --sweeps single,gated` beside every
# baseline in the same run (cuBLAS ideal, torch._grouped_mm, PyTorch, Liger-Kernel 0.8.5).
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 CUDA_VISIBLE_DEVICES=0
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
trap 'cp /tmp/p/bench/*.csv /tmp/p/bench/*.png $OUT/ 2>/dev/null; cp /tmp/o/bench.log $OUT/' EXIT
pip install --no-deps --no-index --target /tmp/lk .gpuws/liger_kernel-0.8.5-py3-none-any.whl > /tmp/o/pip.log 2>&1; echo "liger pip rc=$?"
export PYTHONPATH=/tmp/lk FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py
mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 540 /tmp/p/FN/bin-bin-flashmoe bench --sweeps single,gated > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -vE "^\s*$|^flashmoe T=" /tmp/o/bench.log | tail -45
echo "=== elapsed ${SECONDS}s"
