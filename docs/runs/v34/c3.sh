#!/bin/bash
# v34 c3 (1 GPU). L2 = branch lean after c2: the tokens' rows copied to shared memory at the
# start (cp.async, under the routing), GEMM0 with a warp's 16 columns at once (8 vectors in
# flight per lane), GEMM1 with 16 W2 rows in flight per lane group, the reduction's partials
# eight at a time with the weights and biases before them. c2: tiny layer 0.022 ms (no-lean
# 0.031), forward_device 25.1 us, graph 23.6 us. Predicted: tiny kernel ~0.014 ms,
# forward_device ~17 us, graph ~15 us; H = I = 2048 still slower than the static plan.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -8; }
t L2 X=1 test-test-lean_forward
grep -E "rel_err" /tmp/o/t-L2-test-test-lean_forward-X.log | cut -c1-200 | head -16
t L2 X=1 test-test-forward_graph
grep -iE "  (forward_device|graph replay|empty)" /tmp/o/t-L2-test-test-forward_graph-X.log | cut -c1-160 | head -8
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 4 --hidden 256 --inter 256 --experts 8" "--tokens 1 --hidden 512 --inter 512 --experts 8" "--tokens 1 --hidden 1024 --inter 1024 --experts 8" "--tokens 1 --experts 8" "--tokens 4 --hidden 512 --inter 512 --experts 64" "--tokens 1 --hidden 256 --inter 256 --experts 64 --gated --activation silu --bias" "--tokens 1 --hidden 1024 --inter 256 --experts 128 --top-k 8 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in lean no-lean; do
    timeout -k 2 60 /tmp/p/L2/bin-bin-flashmoe run --gpus 1 $cfg --$v --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
