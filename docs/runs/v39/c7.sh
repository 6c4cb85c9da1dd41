#!/bin/bash
# v39 c7 (1 GPU). c6: with nothing dropped the sweep's two-row experts (CUDA-core dots) cost it
# T = 8, E = 16 and T = 4, E = 8, while experts of 3+ rows on tensor cores won. R2 = S with
# MMA_MIN_ROWS 2 (two-row experts on tensor cores too). Kernel ms, sweep forced, M by default;
# nothing dropped (cf0) unless named.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c7.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1${3:-}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | head -2; }
D="--hidden 2048 --inter 2048"
for cfg in "--tokens 8 $D --experts 16" "--tokens 4 $D --experts 8" "--tokens 8 $D --experts 8" "--tokens 8 $D --experts 8 --gated --activation silu" "--tokens 2 $D --experts 2" "--tokens 8 $D --experts 32" "--tokens 8 $D --experts 64" "--tokens 6 $D --experts 16"; do
  cfg="$cfg --capacity-factor 0"; echo -n "[$cfg]"; r M "$cfg"; for rep in 1 2; do for v in S R2; do r $v "$cfg --lean-sweep" s; done; done; echo; done
for cfg in "--tokens 8 $D --experts 16" "--tokens 4 $D --experts 8"; do
  echo -n "[$cfg cf1]"; r M "$cfg"; for v in S R2; do r $v "$cfg --lean-sweep" s; done; echo; done
echo "=== elapsed ${SECONDS}s"
