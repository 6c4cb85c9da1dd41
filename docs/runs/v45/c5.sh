#!/bin/bash
# v45 c5: main 99de479's two shapes on the same unit: the ws engine (one 384-thread block an SM,
# 128x256 tiles) against the 128-thread wgmma engine (two blocks an SM, 128x128 tiles, cp.async,
# one warpgroup loading and multiplying) - where a two-blocks-an-SM shape stands today.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
. .gpuws/lib.sh
L="--hidden 2048 --inter 2048"
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  echo -n "[$cfg]"; r MC "$cfg"; r MC "$cfg --mainloop wgmma"; r MC "$cfg"; r MC "$cfg --mainloop wgmma"; echo
done
timeline MC "--tokens 16384 $L --experts 32 --mainloop wgmma"; grep -E "OS block|waiting per" /tmp/r.log | cut -c1-260
echo "=== elapsed ${SECONDS}s"
