#!/bin/bash
# v41 c5 (1 GPU). What a 3-stage ws ring costs (it would free the 48 KB an asynchronous epilogue's
# bf16 tile needs): MC = main, M3 = main with WS_STAGES = 3, P1 = no epilogue (4 stages), P13 = no
# epilogue with 3 stages. If P13 keeps most of P1's gain, the storer design fits in 3 stages.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c5.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; }
L="--hidden 2048 --inter 2048"
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  echo -n "[$cfg]"; for i in 1 2; do r MC "$cfg"; r M3 "$cfg"; r P1 "$cfg"; r P13 "$cfg"; done; echo; done
for b in M3 P13; do
timeout -k 2 90 /tmp/p/$b/bin-bin-flashmoe run --gpus 1 --tokens 16384 $L --experts 32 --verify-tokens 2 --iters 10 --timeline > /tmp/r.log 2>&1
echo "--- $b 16384/32 timeline $(med)"; grep -E "per GEMM" /tmp/r.log | tr -s ' '
done
echo "=== elapsed ${SECONDS}s"
