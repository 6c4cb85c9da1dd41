#!/bin/bash
# v41 c4 (1 GPU). Timing probes against main (MC): P1 = no ws epilogue at all (c3: -10 to -20%);
# P4 = the raw accumulators stored straight from registers as bf16 pairs (no staging, no
# activation; `finish`'s fence then waits for them). Predicted: if P4 is within ~1/3 of P1's gain
# of main... P4 at -10% or better means a register-direct epilogue is the next build.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c4.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; }
L="--hidden 2048 --inter 2048"
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0" "--tokens 4096 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"; do
  echo -n "[$cfg]"; for i in 1 2; do r MC "$cfg"; r P1 "$cfg"; r P4 "$cfg"; done; echo; done
for b in MC P4; do
timeout -k 2 90 /tmp/p/$b/bin-bin-flashmoe run --gpus 1 --tokens 16384 $L --experts 32 --verify-tokens 2 --iters 10 --timeline > /tmp/r.log 2>&1
echo "--- $b 16384/32 timeline $(med)"; grep -E "last task|exit|processors|per GEMM|consumer 0 idle" /tmp/r.log | tr -s ' '
done
echo "=== elapsed ${SECONDS}s"
