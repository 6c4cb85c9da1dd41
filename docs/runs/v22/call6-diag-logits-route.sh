#!/bin/bash
# session 15, call 6 (1 GPU): diag-tiny 2nd commit (logits phase marks; route_all run twice, the second warm).
# Tiny layer, T = 1 H = I = 2048 E = 8, Mixtral-size T = 1 default and with 4 x 16 K splits (why no gain in call 4).
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/diag.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
B=/tmp/p/D/bin-bin-flashmoe
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0 --tokens 1"
i=0; for cfg in "--tokens 1 --experts 8 --hidden 256 --inter 256" "--tokens 1 --experts 8" "$X" "$X --gemm0-splits 4 --gemm1-splits 16"; do
  i=$((i+1)); timeout -k 2 60 $B run --gpus 1 $cfg --verify-tokens 1 --iters 10 --timeline > /tmp/o/tl$i.log 2>&1; echo "--- [$cfg]"; grep -E "forward:|FAIL" /tmp/o/tl$i.log | cut -c1-60; sed -n '/timeline of/,$p' /tmp/o/tl$i.log | grep -vE "routing done|barrier passed|dispatch done|OS block"; done
echo "=== elapsed ${SECONDS}s"
