#!/bin/bash
# Session 24, call 7 (1 GPU). Branch power-report: `flashmoe run` samples NVML (SM clock, power,
# clock event reasons) while it times. Short runs (the benches' 30 forwards) against long ones
# (c5/c6 found every long flashmoe run at the 700 W cap, SM ~1.7 GHz). Predicted: the 30-forward
# runs mostly uncapped near 1.98 GHz, the long ones capped at ~1.7 GHz, as nvidia-smi saw.
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c7.tar.xz -C /tmp/p
B=/tmp/p/PW/bin-bin-flashmoe
for cfg in "--tokens 16384 --experts 32" "--tokens 4096 --experts 128" "--tokens 128 --experts 64"; do
  for it in 30 2000; do echo "--- [$cfg] iters $it"; $B run --gpus 1 $cfg --verify-tokens 4 --iters $it | grep -E "forward:|power:"; done
done
CUDA_VISIBLE_DEVICES=0 $B run --gpus 1 --tokens 64 --hidden 256 --inter 256 --experts 8 --verify-tokens 4 --iters 1 | grep -E "power:"
echo "=== elapsed ${SECONDS}s"
