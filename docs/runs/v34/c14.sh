#!/bin/bash
# v34 c14 (1 GPU). S3 (final lean kernel) vs the static plan past c13's border (c13: lean won at
# 128 KiB reduced, T = 4 at H = I = 512 and T = 1 at H = I = 1024): 128-512 KiB reduced.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c12.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 4 --hidden 512 --inter 512 --experts 64" "--tokens 2 --hidden 768 --inter 768 --experts 8" "--tokens 2 --hidden 1024 --inter 1024 --experts 8" "--tokens 1 --hidden 1536 --inter 1536 --experts 8" "--tokens 4 --hidden 768 --inter 768 --experts 8" "--tokens 1 --hidden 2048 --inter 2048 --experts 8"; do
  line="[$cfg]"; for rep in 1 2; do for v in lean no-lean; do
    timeout -k 2 60 /tmp/p/S3/bin-bin-flashmoe run --gpus 1 $cfg --$v --verify-tokens 4 --iters 50 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
