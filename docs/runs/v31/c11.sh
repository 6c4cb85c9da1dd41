#!/bin/bash
# Session 24, call 11 (1 GPU). c9 split: which operand's DRAM traffic costs the capped time?
# B0 (weights L2-resident) and A0 (A boxes L2-resident) alone, beside main (PW), 2000 forwards.
# Predicted: most of AB's -6.5% / -12.6% is B0 (weights: 1 GB at 8192/64 read with few sharers).
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c11.tar.xz -C /tmp/p
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do for v in PW B0 A0 PW; do
  sleep 1; echo "--- $v [$cfg]: $(/tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 2000 2>&1 | grep -E "forward:|power:" | sed -E 's/ TFLOP.*//; s/.*forward: //; s/board power/power/; s/ of a 700 W limit//' | tr '\n' ' ')"
done; done
echo "=== elapsed ${SECONDS}s"
