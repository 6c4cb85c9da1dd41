#!/bin/bash
# session 15, call 7 (1 GPU): is there a task-start bubble at decode? P = prefetch-guess (main + L2 prefetch of the
# first 3 weight K tiles of static task index+grid at each task's start) against M = main 870082a.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/m.tar.xz -C /tmp/p && tar xJf .gpuws/p.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
ab() { local cfg="$1" line="[$1]"; shift; for v in "$@"; do
    timeout -k 2 60 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; echo "$line"; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0 --tokens 1"
ab "$X" M P P M
ab "$X --gemm0-splits 4 --gemm1-splits 16" M P
for c in "--tokens 1 --experts 64" "--tokens 1 --experts 8" "--tokens 4 --experts 64" "--tokens 1 --experts 8 --hidden 256 --inter 256" "--gated --activation silu --tokens 1 --experts 64"; do ab "$c" M P M P; done
echo "=== elapsed ${SECONDS}s"
