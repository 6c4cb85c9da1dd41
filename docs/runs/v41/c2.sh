#!/bin/bash
# v41 c2 (1 GPU). A/B: M = main a7142bb, G = branch gate-deep (the ws entry's gate tiles, experts
# on M, run the 4-stage decode ring: three K slices of x in flight instead of two). Predicted:
# logits done 27 -> ~19 us at 16384/32, forwards -0.5 to -1%. Timelines for the gate's end;
# gate splits 2 on both.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c2.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters ${ITERS:-30} > /tmp/r.log 2>&1; echo -n " $1${3:-}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | head -2; }
L="--hidden 2048 --inter 2048"
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  echo -n "[$cfg]"; for i in 1 2; do r MC "$cfg"; r G "$cfg"; done; echo; done
MX="--tokens 4096 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
echo -n "[Mixtral T=4096]"; ITERS=10 r MC "$MX"; ITERS=10 r G "$MX"; ITERS=10 r MC "$MX"; ITERS=10 r G "$MX"; echo
echo -n "[16384/32 --gate-splits 2]"; r MC "--tokens 16384 $L --experts 32 --gate-splits 2"; r G "--tokens 16384 $L --experts 32 --gate-splits 2"; echo
for b in MC G; do for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128"; do
  timeout -k 2 90 /tmp/p/$b/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 2 --iters 10 --timeline > /tmp/r.log 2>&1
  echo "--- $b [$cfg] timeline $(med): $(grep -E 'logits done|routing done|barrier passed|first task' /tmp/r.log | tr -s ' ' | tr '\n' ';')"
done; done
echo "=== elapsed ${SECONDS}s"
