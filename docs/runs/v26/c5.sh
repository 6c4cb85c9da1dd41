#!/bin/bash
# session 19, call 5 (1 GPU): T = main 5e6f040 + FLASHMOE_TMA_L2 (tensor maps' L2 promotion: 128 = main's, 256, 0 = none), same binary, alternating.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0 --tokens 4096"
for cfg in "--tokens 16384 --experts 32" "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 4096 --experts 128" "$X"; do
  it=30; [ "$cfg" = "$X" ] && it=15
  line="[$cfg]"; for rep in 1 2; do for v in 128 256 0; do
    FLASHMOE_TMA_L2=$v timeout -k 2 90 /tmp/p/T/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 2 --iters $it > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
