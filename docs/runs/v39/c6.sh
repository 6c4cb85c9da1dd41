#!/bin/bash
# v39 c6 (1 GPU). c5 showed the CLI's default capacity (factor 1) caps an expert at ceil(T·k/E)
# rows, so no bench above ran the tensor-core path (S, R4, R5 hashes equal). Here nothing is
# dropped (--capacity-factor 0): experts of 3+ rows on tensor cores (S), from 4 (R4), 5 (R5),
# M = main by default; a timeline of S and R5 at T = 8, E = 8.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --capacity-factor 0 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1${3:-}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | head -2; }
D="--hidden 2048 --inter 2048"
for cfg in "--tokens 8 $D --experts 8" "--tokens 8 $D --experts 8 --gated --activation silu" "--tokens 6 $D --experts 8" "--tokens 8 $D --experts 4 --top-k 1" "--tokens 8 $D --experts 4 --top-k 2" "--tokens 8 $D --experts 16" "--tokens 4 $D --experts 8"; do
  echo -n "[$cfg]"; r M "$cfg"; r S "$cfg" d; for rep in 1 2; do for v in S R4 R5; do r $v "$cfg --lean-sweep" s; done; done; echo; done
echo "=== bench done ${SECONDS}s"
cfg="--tokens 8 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu"
echo -n "[$cfg]"; r M "$cfg"; for v in S R5; do r $v "$cfg --lean-sweep" s; done; echo
for v in S R5; do
timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 --tokens 8 $D --experts 8 --capacity-factor 0 --lean-sweep --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- $v sweep timeline T=8 E=8 cf0 $(med)"; grep -E "^  (routing done|barrier|last|exit)" /tmp/r.log
done
echo "=== elapsed ${SECONDS}s"
