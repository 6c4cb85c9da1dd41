#!/bin/bash
# v34 c10 (1 GPU). S = branch lean-spec: the lean item specialized by its expert's rows (1, 2,
# up to 4) and gating, an outlined copy each, so a launch fetches and issues only its own code
# (c5: a third of the lean kernel's samples waited for instructions; T = 1 issued the FMAs of
# four rows, plain layers the gated FMAs). H = main (c8's build). Predicted: tiny -1 to -3 us.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c10.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -8; }
t S X=1 test-test-lean_forward
for v in H S; do t $v X=1 test-test-forward_graph; grep -iE "  (forward_device|graph replay)" /tmp/o/t-$v-test-test-forward_graph-X.log | cut -c1-150; done
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 4 --hidden 256 --inter 256 --experts 8" "--tokens 1 --hidden 512 --inter 512 --experts 8 --gated --activation silu" "--tokens 1 --hidden 256 --inter 256 --experts 128"; do
  line="[$cfg]"; for rep in 1 2 3; do for v in H S; do
    timeout -k 2 60 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --lean --verify-tokens 4 --iters 50 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)$(hsh)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
