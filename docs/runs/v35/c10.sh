#!/bin/bash
# v35 c10 (1 GPU). R (main): the sweep's border, sweep forced vs not, on layers just past
# heuristics::lean_sweep (T = 3-4, more weight bytes, E = 16).
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c10.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 3 --hidden 2048 --inter 2048 --experts 8" "--tokens 4 --hidden 2048 --inter 2048 --experts 8" "--tokens 4 --hidden 1536 --inter 1536 --experts 8 --gated --activation silu" "--tokens 2 --hidden 2048 --inter 2048 --experts 8 --gated --activation silu" "--tokens 1 --hidden 4096 --inter 4096 --experts 8" "--tokens 1 --hidden 2048 --inter 4096 --experts 8 --gated --activation silu" "--tokens 1 --hidden 2048 --inter 2048 --experts 16" "--tokens 1 --hidden 1024 --inter 1024 --experts 8 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in lean-sweep no-lean-sweep; do
    timeout -k 2 60 /tmp/p/R/bin-bin-flashmoe run --gpus 1 $cfg --$v --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
