#!/bin/bash
# session 13, call 4 (1 GPU): main (481c990, the compact epilogue merged) - `flashmoe bench --sweeps single,gated` beside every baseline (cuBLAS ideal, grouped_mm, PyTorch, Liger)
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/m.tar.xz -C /tmp/p
trap 'cp -r /tmp/p/bench /tmp/o/ 2>/dev/null; tar czf $OUT/logs.tgz -C /tmp o' EXIT
V=/tmp/p/M
pip install --no-deps --no-index --target /tmp/lk .whl/liger_kernel-0.8.5-py3-none-any.whl > /tmp/o/pip.log 2>&1; echo "liger pip rc=$?"
export PYTHONPATH=/tmp/lk FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py
mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 420 $V/bin-bin-flashmoe bench --sweeps single,gated > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -vE "^\s*$|^flashmoe T=" /tmp/o/bench.log | tail -40
echo "=== elapsed ${SECONDS}s"
