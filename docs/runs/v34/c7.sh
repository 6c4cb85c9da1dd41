#!/bin/bash
# v34 c7 (1 GPU). G = lean with its own gate: a warp takes 8 experts at once (their weight
# vectors in flight together) where c6's took one (E = 64, T = 2, H = I = 512: lean 0.042 vs
# 0.038 ms, 16 experts a warp one after another). Predicted: E = 64 and 128 decode layers of
# small experts win as E = 8 does. The lean kernel and the static plan on layers across E, T, H
# and gating, to set `heuristics::lean`; lean_forward, ws_forward, forward_graph.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c7.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -8; }
t G X=1 test-test-lean_forward
t G X=1 test-test-ws_forward
t G X=1 test-test-forward_graph
grep -iE "  (forward_device|graph replay)" /tmp/o/t-G-test-test-forward_graph-X.log | cut -c1-170
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 2 --hidden 512 --inter 512 --experts 64" "--tokens 1 --hidden 256 --inter 256 --experts 128" "--tokens 1 --hidden 256 --inter 256 --experts 256" "--tokens 4 --hidden 512 --inter 512 --experts 8" "--tokens 1 --hidden 512 --inter 512 --experts 8 --gated --activation silu" "--tokens 4 --hidden 256 --inter 256 --experts 64 --top-k 4 --gated --activation silu --bias" "--tokens 1 --hidden 768 --inter 768 --experts 8"; do
  line="[$cfg]"; for rep in 1 2; do for v in lean no-lean; do
    timeout -k 2 60 /tmp/p/G/bin-bin-flashmoe run --gpus 1 $cfg --$v --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
