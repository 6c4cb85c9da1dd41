#!/bin/bash
# Session 24, call 9 (1 GPU). How much of the fused layer's energy is DRAM? c1's timing probe AB
# (every B from expert 0's weights, every A box from the region's first rows: operands
# L2-resident, results wrong by design) on main with the power report, sustained (2000 forwards)
# beside main (PW). At full clock AB bought 3% at 16384/32 and 9% at 8192/64. Predicted: capped,
# AB saves the operands' DRAM energy (~0.7 GB at 16384/32, 30-50 mJ a forward, -4..-6% time).
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c9.tar.xz -C /tmp/p
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do for rep in 1 2; do for v in PW AB; do
  sleep 1; echo "--- $v [$cfg]: $(/tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 2000 | grep -E "forward:|power:" | sed -E 's/ TFLOP.*//; s/.*forward: //; s/board power/power/' | tr '\n' ' ')"
done; done; done
echo "=== elapsed ${SECONDS}s"
