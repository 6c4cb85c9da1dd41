#!/bin/bash
# session 15, call 3 (1 GPU): diag-tiny build (main 870082a + timeline marks in the grid barrier, after route_all,
# after each GEMM's mainloop and emit). Where does the tiny layer's ~30 us kernel go?
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/diag.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
B=/tmp/p/D/bin-bin-flashmoe
i=0; for cfg in "--tokens 1 --experts 8 --hidden 256 --inter 256" "--tokens 1 --experts 8 --hidden 256 --inter 256 --gate-splits 1" "--tokens 1 --experts 64" "--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0 --tokens 1" "--tokens 128 --experts 64"; do
  i=$((i+1)); timeout -k 2 60 $B run --gpus 1 $cfg --verify-tokens 1 --iters 10 --timeline > /tmp/o/tl$i.log 2>&1; echo "--- [$cfg]"; grep -E "forward:|PASS|FAIL" /tmp/o/tl$i.log | cut -c1-60; sed -n '/timeline of/,$p' /tmp/o/tl$i.log; done
echo "=== elapsed ${SECONDS}s"
