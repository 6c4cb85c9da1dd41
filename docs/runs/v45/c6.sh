#!/bin/bash
# v45 c6: the TMA maps' L2 promotion at 256 bytes (P256: an L2 miss of a box row also fetches the
# row's next 128 bytes, the next K slice) against 128 (MH = HEAD 366d1da, the same build
# otherwise), ws layers; then ws_forward on P256.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
. .gpuws/lib.sh
L="--hidden 2048 --inter 2048"
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0" "--tokens 4096 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"; do
  echo -n "[$cfg]"; r MH "$cfg"; r P256 "$cfg"; r P256 "$cfg"; r MH "$cfg"; echo
done
t P256 "X=1" test-test-ws_forward 150
echo "=== elapsed ${SECONDS}s"
