#!/bin/bash
# v35 c7 (1 GPU). The tiny layer's host time and kernel on F (c3: dense launch, no sweep code),
# SF (c6: the sweep inlined into the entry) and SF2 (the sweep out of line), alternating.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c7.tar.xz -C /tmp/p
for rep in 1 2; do for d in F SF SF2; do
  timeout -k 2 120 /tmp/p/$d/test-test-forward_graph host_time --include-ignored --nocapture > /tmp/o/g.log 2>&1
  echo "=== forward_graph $d rc=$? $(grep -oE 'grid [0-9]+' /tmp/o/g.log)"; grep -E "  (forward_device|graph replay|kernel|empty kernel, plain)" /tmp/o/g.log | cut -c1-110
done; done
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 1 --hidden 512 --inter 512 --experts 8 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for d in F SF SF2; do
    timeout -k 2 60 /tmp/p/$d/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 50 > /tmp/r.log 2>&1; line="$line $d=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
