#!/bin/bash
# v34 c16 (1 GPU). R = main + the lean reduction specialized by k (2, 4, 8), as the items and
# the gate were (c10, c11); S2 = c11's build (main's kernels). Predicted: -0.5 to -1 us at the
# tiny layer (the last block runs the reduction's code cold).
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c16.tar.xz -C /tmp/p
timeout -k 2 120 /tmp/p/R/test-test-lean_forward --include-ignored --test-threads=1 > /tmp/o/lf.log 2>&1; echo "=== R lean_forward rc=$? $(grep 'test result' /tmp/o/lf.log | tail -1)"
for v in S2 R; do timeout -k 2 120 /tmp/p/$v/test-test-forward_graph --include-ignored --test-threads=1 --nocapture > /tmp/o/fg-$v.log 2>&1; echo "=== $v forward_graph rc=$?"; grep -iE "  (forward_device|graph replay)" /tmp/o/fg-$v.log | cut -c1-150; done
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 4 --hidden 256 --inter 256 --experts 64 --top-k 4" "--tokens 4 --hidden 128 --inter 512 --experts 128 --top-k 8"; do
  line="[$cfg]"; for rep in 1 2 3; do for v in S2 R; do
    timeout -k 2 60 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --lean --verify-tokens 4 --iters 50 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)$(hsh)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
