#!/bin/bash
# Session 23, call 8 (1 GPU). W = wait-split (main + the processors' wait time split into the
# first two tasks, combine/exit tasks and mid-run, and consumer 0's own waits for its task slot;
# timeline only). c7 measured the producer, which runs up to two tasks ahead. Where do the 6-10% of the
# processors' time "waiting for tasks" go?
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c8.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 16384 --experts 128" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 8192 --experts 32"; do
  timeout -k 2 90 /tmp/p/W/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 5 --timeline > /tmp/r.log 2>&1; echo "--- timeline [$cfg] $(med)"; sed -n '/timeline of/,$p' /tmp/r.log | sed -n "2,15p"; done
echo "=== elapsed ${SECONDS}s"
