#!/bin/bash
# Session 22, call 4 (1 GPU): c3's gated sweep had the Mixtral-size layer at 4.818 ms median
# (min 4.449) against 4.472 in v28's c5. Same binary pair as c1: M = main before this session
# (669cbad), RF = main now (c9c8921). A/B alternated, three rounds.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c4.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv,noheader
for cfg in "--hidden 4096 --inter 14336 --experts 8 --tokens 4096 --gated --activation silu --capacity-factor 0" "--tokens 16384 --experts 32 --gated --activation silu --capacity-factor 0"; do
  line="[$cfg]"; for rep in 1 2 3; do for v in M RF; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv,noheader
echo "=== elapsed ${SECONDS}s"
