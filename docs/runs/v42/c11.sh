#!/bin/bash
# v42 c11 (1 GPU). Do a task's output bytes cost the same spread through its mainloop? Probe TR
# = P1 (no epilogue) + FLASHMOE_PROBE_TRICKLE: each consumer thread stores 16 bytes every other
# K stage while its wgmmas run, 64 KiB a task as the epilogue's, into the block's private rows
# (c10: where the rows go costs ~1.5%). Wrong outputs by design.
# Predicted if spreading the stores hides them: TR within 3% of P1 (0.82 at 16384/32); if the
# bytes cost the same wherever they go: TR near MC (1.0).
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c11.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
r() { timeout -k 2 60 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; grep -iE "panic|illegal|timed out|fault" /tmp/r.log | head -2 | cut -c1-200; }
L="--hidden 2048 --inter 2048"
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  echo -n "[$cfg]"; for v in MC P1 TR MC P1 TR; do r $v "$cfg"; done; echo
done
timeout -k 2 60 /tmp/p/TR/bin-bin-flashmoe run --gpus 1 --tokens 16384 $L --experts 32 --verify-tokens 2 --iters 10 --timeline > /tmp/r.log 2>&1
echo "--- TR 16384/32 timeline $(med)"; grep -E "per GEMM|exit|idle" /tmp/r.log | tr -s ' '
echo "=== elapsed ${SECONDS}s"
