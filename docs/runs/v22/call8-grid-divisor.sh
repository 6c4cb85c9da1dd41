#!/bin/bash
# session 15, call 8 (1 GPU): main 870082a. Mixtral-size T = 1 has ~705 static tasks of ~1 MB each: on 264 blocks
# some do 2 and most 3 (ends 150-220 us). With the grid a divisor (235 = 705/3, 177 ~ 705/4, 141 = 705/5) every
# block does the same number; the stream is saturated mid-run, so fewer blocks should not stream slower.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/m.tar.xz -C /tmp/p
B=/tmp/p/M/bin-bin-flashmoe
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0 --tokens 1"
line="[mixtral T=1]"; for mb in 0 235 177 141 236 0 235 200; do v=""; [ $mb = 0 ] || v="--max-blocks $mb"
  timeout -k 2 60 $B run --gpus 1 $X $v --verify-tokens 1 --iters 30 > /tmp/r.log 2>&1; line="$line mb$mb:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; echo "$line"
timeout -k 2 60 $B run --gpus 1 $X --max-blocks 235 --verify-tokens 1 --iters 5 --timeline > /tmp/r.log 2>&1; sed -n '/timeline of/,$p' /tmp/r.log
echo "=== elapsed ${SECONDS}s"
