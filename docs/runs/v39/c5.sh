#!/bin/bash
# v39 c5 (1 GPU). S = v39 93ffaca (final heuristic; experts of 3+ rows on tensor cores), R4 / R5
# = S with MMA_MIN_ROWS 4 / 5 (more rows on the CUDA-core dot products), M = main 7c1802d by
# default. lean_forward and moe_single_gpu by default on S; kernel ms with the sweep forced.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1${3:-}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | head -2; }
t S X=1 test-test-lean_forward
t S X=1 test-test-moe_single_gpu
D="--hidden 2048 --inter 2048"
for cfg in "--tokens 8 $D --experts 8" "--tokens 8 $D --experts 8 --gated --activation silu" "--tokens 6 $D --experts 8" "--tokens 8 $D --experts 4 --top-k 1" "--tokens 8 $D --experts 16" "--tokens 5 $D --experts 32 --top-k 4"; do
  echo -n "[$cfg]"; r M "$cfg"; for rep in 1 2; do for v in S R4 R5; do r $v "$cfg --lean-sweep" s; done; done; echo; done
echo "=== bench done ${SECONDS}s"
cfg="--tokens 8 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu"
echo -n "[$cfg]"; r M "$cfg"; for v in S R4 R5; do r $v "$cfg --lean-sweep" s; done; echo
echo "=== elapsed ${SECONDS}s"
