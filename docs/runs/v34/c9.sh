#!/bin/bash
# v34 c9 (1 GPU). H as c8: the lean kernel against the static plan at the borders of
# `heuristics::lean` after c8's gate (which moved E = 256 and T = 2 at E = 64, H = 512 to wins):
# 64 KiB reduced (T = 4, k = 4, E = 64, H = I = 256, gated, biases), 128 KiB (T = 4, H = I = 512;
# T = 1, H = I = 1024), 72 KiB (T = 1, H = I = 768).
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c8.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 4 --hidden 256 --inter 256 --experts 64 --top-k 4 --gated --activation silu --bias" "--tokens 4 --hidden 512 --inter 512 --experts 8" "--tokens 1 --hidden 1024 --inter 1024 --experts 8" "--tokens 1 --hidden 768 --inter 768 --experts 8" "--tokens 3 --hidden 512 --inter 512 --experts 64"; do
  line="[$cfg]"; for rep in 1 2; do for v in lean no-lean; do
    timeout -k 2 60 /tmp/p/H/bin-bin-flashmoe run --gpus 1 $cfg --$v --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
