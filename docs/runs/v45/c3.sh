#!/bin/bash
# v45 c3: main 99de479, the gated (SwiGLU) sweep beside Liger-Kernel 0.8.5's fused MoE and the
# PyTorch baseline in the same run (issue 10's >= 1.5x Liger and Mixtral-size >= 600 TFLOP/s).
set -u
export PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
trap 'cp /tmp/p/bench/*.csv $OUT/ 2>/dev/null; cp /tmp/o/*.log $OUT/ 2>/dev/null' EXIT
pip install --no-deps --no-index --target /tmp/lk .gpuws/liger_kernel-0.8.5-py3-none-any.whl > /tmp/o/pip.log 2>&1; echo "liger pip rc=$?"
export PYTHONPATH=/tmp/lk FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py CUDA_VISIBLE_DEVICES=0
mkdir -p /tmp/p/bench && cd /tmp/p/bench
timeout -k 5 570 /tmp/p/MC/bin-bin-flashmoe bench --sweeps gated > /tmp/o/bench-gated.log 2>&1; echo "gated rc=$? at ${SECONDS}s"
grep -vE "^\s*$|^flashmoe T=" /tmp/o/bench-gated.log | tail -16
echo "=== elapsed ${SECONDS}s"
