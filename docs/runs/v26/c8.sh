#!/bin/bash
# session 19, call 8 (1 GPU): main 5e6f040: layers of 64 rows per expert (below heuristics::WIDE_TILE_ROWS), default (128-thread) vs --mainloop ws.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c8.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 4096 --experts 128" "--tokens 2048 --experts 64" "--tokens 4096 --experts 128 --gated --activation silu" "--tokens 1024 --experts 32"; do
  line="[$cfg]"; for rep in 1 2; do for a in auto ws; do
    timeout -k 2 60 /tmp/p/M/bin-bin-flashmoe run --gpus 1 $cfg --mainloop $a --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line $a:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
