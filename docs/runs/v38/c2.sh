#!/bin/bash
# v38 c2 (1 GPU). M = main ec72820; P1-P4 = the sweep with the first bytes of each block's GEMM1
# share (its W2 rows) prefetched into L2: P1 before the grid barrier, 64 KiB a block; P2 after
# the routing, 64 KiB; P3 before the barrier, 128 KiB; P4 after the routing, 16 KiB. Kernel ms
# with the sweep forced, alternating, output hashes beside (expected equal).
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c2.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
MIX="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu"
for cfg in "--tokens 1 $MIX" "--tokens 2 $MIX" "--tokens 1 --hidden 2048 --inter 2048 --experts 8" "--tokens 3 --hidden 2048 --inter 2048 --experts 8" "--tokens 1 --hidden 2048 --inter 2048 --experts 64" "--tokens 3 --hidden 2048 --inter 2048 --experts 64" "--tokens 1 --hidden 2048 --inter 2048 --experts 64 --gated --activation silu" "--tokens 1 --hidden 4096 --inter 4096 --experts 8" "--tokens 1 --hidden 1024 --inter 1024 --experts 8"; do
  line="[$cfg]"; for rep in 1 2; do for v in M P1 P2 P3 P4; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --lean-sweep --verify-tokens 1 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; done; done
  echo "$line"; grep -E "rror" /tmp/r.log | head -3; done
echo "=== bench done ${SECONDS}s"
for v in M P1 P2; do timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 --tokens 1 $MIX --lean-sweep --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- $v sweep timeline Mixtral T=1 $(med)"; grep -E "^  (routing done|barrier|last|exit)" /tmp/r.log; done
for v in M P1 P2; do timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 --tokens 1 --hidden 2048 --inter 2048 --experts 64 --lean-sweep --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- $v sweep timeline T=1 E=64 $(med)"; grep -E "^  (routing done|barrier|last|exit)" /tmp/r.log; done
echo "=== elapsed ${SECONDS}s"
