#!/bin/bash
# session 14, call 7 (1 GPU): main 6aa4b5d (M2) - where decode time goes: timelines of E = 8 / 64 at T = 128 and
# Mixtral-size T = 1 (layers built for T = 256, as the decode sweep builds them).
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/n.tar.xz -C /tmp/p M2
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
B=/tmp/p/M2/bin-bin-flashmoe
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
for cfg in "--tokens 128 --experts 8" "--tokens 8 --experts 8" "--tokens 128 --experts 64" "$X --tokens 1"; do
  timeout -k 2 60 $B run --gpus 1 $cfg --verify-tokens 4 --iters 20 --timeline > /tmp/r.log 2>&1; echo "[$cfg] rc=$? $(grep -oP 'forward: median \K[0-9.]+ ms' /tmp/r.log) $(grep -c PASS /tmp/r.log)pass"
  grep -E "engine|plan|blocks per GPU|last task end|exit  |OS block|processors|GEMM|tasks" /tmp/r.log | head -14; cp /tmp/r.log /tmp/o/tl-$(echo $cfg | tr -dc 'a-z0-9' | tail -c 24).log; done
echo "=== elapsed ${SECONDS}s"
