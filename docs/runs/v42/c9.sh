#!/bin/bash
# v42 c9 (1 GPU). Is the fused GEMM phase bound by L2 operand reads? Timing probes on main
# (wrong outputs by design, so no PASS expected except MC):
#   HB   = FLASHMOE_PROBE_HALF_B: odd K slices keep the stage's stale B (no TMA load), halving
#          B's L2 reads as a 2-block B multicast would (operand reads 48 -> 32 KiB a stage);
#   P1   = v41's P1 (no epilogue);  P1HB = both.
# Predicted if L2-bound: HB -8 to -15% at 16384/32 (mainloop 20.8 -> ~17.5 us), and P1HB below
# P1; if not: HB within 2% of MC (v30's standalone pair tile: no gain).
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c9.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
r() { timeout -k 2 60 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; grep -E "rror" /tmp/r.log | grep -v "rel L2 error" | head -2 | cut -c1-200; }
L="--hidden 2048 --inter 2048"
n=0
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  n=$((n+1)); echo -n "[$cfg]"; for v in MC HB P1 P1HB; do r $v "$cfg"; done; echo
  if [ $n -le 1 ]; then echo -n "  again:"; for v in MC HB P1 P1HB; do r $v "$cfg"; done; echo; fi
done
for b in HB P1HB; do
timeout -k 2 60 /tmp/p/$b/bin-bin-flashmoe run --gpus 1 --tokens 16384 $L --experts 32 --verify-tokens 2 --iters 10 --timeline > /tmp/r.log 2>&1
echo "--- $b 16384/32 timeline $(med)"; grep -E "per GEMM|exit|idle" /tmp/r.log | tr -s ' '
done
echo "=== elapsed ${SECONDS}s"
