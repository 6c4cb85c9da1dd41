#!/bin/bash
# v42 c13 (NOT RUN: no device time was left). For the next session: is a 4-stage hybrid worth
# building (half of a tile's outputs trickled from the ~29 KiB of shared memory beside 4 stages,
# half stored at once)? Build from `git apply docs/runs/v42/probes.patch` (pack.sh with SRC set):
#   MC  = main;   H = FLASHMOE_PROBE_HALF_EPILOGUE (the epilogue stores half the columns);
#   TRH = H + FLASHMOE_PROBE_TRICKLE (the other half's bytes trickled during the next mainloop,
#         8 stores a thread, into private rows);
#   P1  = FLASHMOE_PROBE_NO_EPILOGUE;   TR = P1 + FLASHMOE_PROBE_TRICKLE (c11).
# Copy docs/runs/lib.sh into .gpuws beside this script. Predicted: H about halfway between MC and
# P1 if a burst's cost goes with its bytes (~0.91 at 16384/32), TRH within 1% of H; if H is
# near MC, half a burst costs as much as a whole one and the hybrid is not worth building.
# Layers only where the staging buffer holds the probe's 120 x 128 private rows (>= 63 MB): not
# 4096/128 (c12: TR ran past its 32 MB buffer and timed out).
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c13.tar.xz -C /tmp/p
. .gpuws/lib.sh
L="--hidden 2048 --inter 2048"
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  echo -n "[$cfg]"; for v in MC H TRH P1 TR MC H TRH; do r $v "$cfg"; done; echo
done
timeline H "--tokens 16384 $L --experts 32"
# The B-multicast candidates on main: slot pairs reading one weight panel (`run --timeline`'s
# task-queue line, new in v42, never run yet).
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  timeline MC "$cfg"
done
echo "=== elapsed ${SECONDS}s"
