#!/bin/bash
# v45 c1: the ws ring in 64-byte K slices (64-byte swizzle, two wgmma m64n256k16 a stage) at 8, 7
# and 6 stages (K8 = the same 192 KiB as main's 4 x 128-byte ring; K6 leaves room for a whole
# output tile) beside main 99de479 (MC). Tests on K8 first: the standalone ws tile against the
# CPU, ws_forward, moe_single_gpu on the ws engine.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
. .gpuws/lib.sh
t K8 "X=1" test-test-ws_tile 120
t K8 "X=1" test-test-ws_forward 150
t K8 "FLASHMOE_TEST_MAINLOOP=ws" test-test-moe_single_gpu 150
L="--hidden 2048 --inter 2048"
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  echo -n "[$cfg]"; r MC "$cfg"; r K8 "$cfg"; r K7 "$cfg"; r K6 "$cfg"; r K6 "$cfg"; r K7 "$cfg"; r K8 "$cfg"; r MC "$cfg"; echo
done
for v in MC K8 K6; do
  timeline $v "--tokens 16384 $L --experts 32"; grep -E "OS block|waiting per" /tmp/r.log | cut -c1-260
done
echo "=== elapsed ${SECONDS}s"
