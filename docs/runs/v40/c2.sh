#!/bin/bash
# v40 c2 (1 GPU). X = branch exp-mma-stream: the sweep's tensor-core tiles with experiment bits
# (FLASHMOE_EXP: 1 = L2 prefetch of the next tile, 2 = weight loads with .L2::256B, 3 = both);
# M = main. Drop-less, sweep forced, kernel ms.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { FLASHMOE_EXP=${3:-0} timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1${3:-}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | head -2; }
t X FLASHMOE_EXP=3 test-test-lean_forward
D="--hidden 2048 --inter 2048 --capacity-factor 0 --lean-sweep"
MIX="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0 --lean-sweep"
for cfg in "--tokens 8 $D --experts 8" "--tokens 4 $D --experts 8" "--tokens 8 $D --experts 16" "--tokens 8 $D --experts 8 --gated --activation silu" "--tokens 8 --hidden 4096 --inter 4096 --capacity-factor 0 --lean-sweep --experts 16"; do
  echo -n "[$cfg]"; r M "$cfg"; for e in 0 1 2 3 0 1 2 3; do r X "$cfg" $e; done; r M "$cfg"; echo; done
echo "=== bench1 ${SECONDS}s"
for cfg in "--tokens 8 $MIX" "--tokens 4 $MIX"; do
  echo -n "[$cfg]"; r M "$cfg"; for e in 0 1 2 3; do r X "$cfg" $e; done; echo; done
echo "=== elapsed ${SECONDS}s"
