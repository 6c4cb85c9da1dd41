#!/bin/bash
# v37 c7 (1 GPU). F = main (c5). The lean items' border against the sweep (c6: at H = I = 1024
# the sweep won at E = 64 by 22%): default (the items) vs sweep forced, kernel ms, twice each.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c6.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
runs() { grep -oP "run \K\S+(?= \()" /tmp/r.log | head -1; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 256" "--tokens 1 --hidden 512 --inter 512 --experts 64" "--tokens 1 --hidden 768 --inter 768 --experts 64" "--tokens 1 --hidden 1024 --inter 1024 --experts 16" "--tokens 2 --hidden 1024 --inter 1024 --experts 64" "--tokens 1 --hidden 1024 --inter 1024 --experts 8 --gated --activation silu" "--tokens 1 --hidden 1024 --inter 1024 --experts 128"; do
  line="[$cfg]"; for rep in 1 2; do for v in "default " "sweep --lean-sweep"; do set -- $v
    timeout -k 2 60 /tmp/p/F/bin-bin-flashmoe run --gpus 1 $cfg ${2:-} --verify-tokens 2 --iters 50 > /tmp/r.log 2>&1; line="$line $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; [ $1 = default ] && line="$line($(runs))"; done; done
  echo "$line"; done
echo "=== elapsed ${SECONDS}s"
