#!/bin/bash
# v34 c13 (1 GPU). S3, the final lean kernel, against the static plan in the same call (kernel
# ms, medians of 50), the default's choice named, on the layers of c8/c9.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c12.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
ker() { grep -oP "forwards of T=[0-9]+ run \K(moe_[a-z0-9_]+)" /tmp/r.log || echo "layer-engine"; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 4 --hidden 256 --inter 256 --experts 8" "--tokens 1 --hidden 256 --inter 256 --experts 128" "--tokens 1 --hidden 256 --inter 256 --experts 256" "--tokens 2 --hidden 512 --inter 512 --experts 64" "--tokens 1 --hidden 512 --inter 512 --experts 8 --gated --activation silu" "--tokens 4 --hidden 512 --inter 512 --experts 8" "--tokens 1 --hidden 1024 --inter 1024 --experts 8"; do
  line="[$cfg]"; for rep in 1 2; do for v in lean no-lean default; do x="--$v"; [ $v = default ] && x=""
    timeout -k 2 60 /tmp/p/S3/bin-bin-flashmoe run --gpus 1 $cfg $x --verify-tokens 4 --iters 50 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; [ $v = default ] && [ $rep = 1 ] && line="$line($(ker))"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
