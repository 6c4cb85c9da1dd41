#!/bin/bash
# v39 c1 (1 GPU). M = main 7c1802d, S = sweep-mma (the sweep for up to 8 tokens; experts of 3+
# rows on tensor cores). Kernel ms: M by default (the static/OS plan past 3 tokens; its sweep
# at T <= 3), S with the sweep forced and by default; output hashes; S's lean_forward suite.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1${3:-}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | head -2; }
t S X=1 test-test-lean_forward
MIX="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu"
D="--hidden 2048 --inter 2048"
for cfg in "--tokens 8 $D --experts 8" "--tokens 8 $D --experts 64" "--tokens 8 $D --experts 128" "--tokens 4 $D --experts 8" "--tokens 4 $D --experts 64" "--tokens 6 $D --experts 8" "--tokens 8 $D --experts 8 --gated --activation silu" "--tokens 8 $D --experts 64 --gated --activation silu" "--tokens 5 $D --experts 32 --top-k 4"; do
  echo -n "[$cfg]"; for rep in 1 2; do r M "$cfg"; r S "$cfg --lean-sweep" s; done; r S "$cfg" d; echo; done
echo "=== bench1 done ${SECONDS}s"
for cfg in "--tokens 8 $MIX" "--tokens 4 $MIX"; do echo -n "[$cfg]"; r M "$cfg"; r S "$cfg --lean-sweep" s; echo; done
for cfg in "--tokens 3 $D --experts 8" "--tokens 2 $D --experts 8" "--tokens 1 $MIX" "--tokens 3 $D --experts 64"; do
  echo -n "[$cfg]"; for rep in 1 2; do r M "$cfg --lean-sweep" s; r S "$cfg --lean-sweep" s; done; echo; done
echo "=== bench2 done ${SECONDS}s"
timeout -k 2 90 /tmp/p/S/bin-bin-flashmoe run --gpus 1 --tokens 8 $D --experts 8 --lean-sweep --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- S sweep timeline T=8 E=8 $(med)"; grep -E "^  (logits|routing|first|barrier|last|exit)" /tmp/r.log
timeout -k 2 90 /tmp/p/S/bin-bin-flashmoe run --gpus 1 --tokens 8 $D --experts 64 --lean-sweep --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- S sweep timeline T=8 E=64 $(med)"; grep -E "^  (logits|routing|first|barrier|last|exit)" /tmp/r.log
echo "=== elapsed ${SECONDS}s"
