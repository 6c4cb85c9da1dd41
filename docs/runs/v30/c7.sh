#!/bin/bash
# Session 23, call 7 (1 GPU). W = wait-split (main + the processors' wait time split into the
# first two tasks, combine/exit tasks and mid-run; timeline only). Where do the 6-10% of the
# processors' time "waiting for tasks" go?
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c7.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 16384 --experts 128" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 8192 --experts 32"; do
  timeout -k 2 90 /tmp/p/W/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 5 --timeline > /tmp/r.log 2>&1; echo "--- timeline [$cfg] $(med)"; sed -n '/timeline of/,$p' /tmp/r.log | sed -n '2,14p'; done
echo "=== elapsed ${SECONDS}s"
