#!/bin/bash
# v39 c9 (1 GPU). c8: cost-weighted shares lost (dropped); R2 (experts of 2+ rows on tensor
# cores) stays. With nothing dropped R2 lost to M at T = 8, H = I = 2048, E = 16 and 64: here
# drop-less at smaller layers, T = 7, k = 4 and 1 GiB, M by default vs R2 forced.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c9.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --capacity-factor 0 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1${3:-}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | grep -v "rel L2" | head -2; }
D="--hidden 2048 --inter 2048"
for cfg in "--tokens 8 --hidden 1024 --inter 1024 --experts 16" "--tokens 8 --hidden 1024 --inter 1024 --experts 64" "--tokens 8 --hidden 512 --inter 512 --experts 32 --gated --activation silu" "--tokens 7 $D --experts 16" "--tokens 8 $D --experts 12" "--tokens 8 $D --experts 16 --top-k 4" "--tokens 5 $D --experts 32 --top-k 4" "--tokens 8 --hidden 4096 --inter 4096 --experts 16" "--tokens 8 $D --experts 128"; do
  echo -n "[$cfg cf0]"; r M "$cfg"; r R2 "$cfg --lean-sweep" s; echo; done
echo "=== elapsed ${SECONDS}s"
