#!/bin/bash
# v32 c8 (1 GPU): the single-GPU sweep on main eed6c15 (the activation per vector), beside its
# baselines in the same run (cuBLAS ideal, torch._grouped_mm, PyTorch): issue 10's ratios.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c8.tar.xz -C /tmp/p
export FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py CUDA_VISIBLE_DEVICES=0
mkdir -p /tmp/p/bench && cd /tmp/p/bench
timeout -k 5 150 /tmp/p/MAIN/bin-bin-flashmoe bench --sweeps single > /tmp/p/bench.log 2>&1; echo "single rc=$? at ${SECONDS}s"
grep -vE "^\s*$|^flashmoe T=" /tmp/p/bench.log | tail -16
cp /tmp/p/bench/*.csv $OUT/ 2>/dev/null
echo "=== elapsed ${SECONDS}s"
