#!/bin/bash
# Next session, call 2 (1 GPU), prepared in session 20 (not run): the gated sweep beside Liger-Kernel
# 0.8.5 alone (its Triton autotune took 99.7 s for the first shape on a fresh machine in v27 c4,
# and the sweep ran out of a 400 s limit). Pack: M = main (CLI); copy the Liger wheel into .gpuws.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/next2.tar.xz -C /tmp/p
trap 'cp /tmp/p/bench/*.csv $OUT/ 2>/dev/null; cp /tmp/o/bench.log $OUT/' EXIT
pip install --no-deps --no-index --target /tmp/lk .gpuws/liger_kernel-0.8.5-py3-none-any.whl > /tmp/o/pip.log 2>&1; echo "liger pip rc=$?"
export PYTHONPATH=/tmp/lk FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py
mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 560 /tmp/p/M/bin-bin-flashmoe bench --sweeps gated > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -vE "^\s*$|^flashmoe T=" /tmp/o/bench.log | tail -20
echo "=== elapsed ${SECONDS}s"
