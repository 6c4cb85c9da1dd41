#!/bin/bash
# session 15, call 4 (1 GPU): main 870082a. Decode task balance: Mixtral-size T = 1 runs 702 tasks of ~60 us on
# 264 blocks (2 or 3 each: blocks end between 144 and 209 us). Finer tasks by forced K splits of both GEMMs.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/m.tar.xz -C /tmp/p && tar xJf .gpuws/diag.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
B=/tmp/p/M/bin-bin-flashmoe
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
for T in 1 4; do
  line="[mixtral T=$T]"; for rep in 1 2; do for v in "" "--gemm0-splits 1 --gemm1-splits 8" "--gemm0-splits 2 --gemm1-splits 4" "--gemm0-splits 2 --gemm1-splits 8" "--gemm0-splits 4 --gemm1-splits 8" "--gemm0-splits 4 --gemm1-splits 16"; do
    timeout -k 2 60 $B run --gpus 1 $X --tokens $T $v --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line [${v:-default}]:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
for v in "" "--gemm0-splits 2 --gemm1-splits 8" "--gemm0-splits 4 --gemm1-splits 8"; do
  timeout -k 2 60 /tmp/p/D/bin-bin-flashmoe run --gpus 1 $X --tokens 1 $v --verify-tokens 1 --iters 10 --timeline > /tmp/r.log 2>&1; echo "--- diag [${v:-default}] $(med)"; grep -E "first task|last task end|diag mainloop|diag last|processors" /tmp/r.log; done
echo "=== elapsed ${SECONDS}s"
