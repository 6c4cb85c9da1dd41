#!/bin/bash
# v34 c11 (1 GPU). S2 = lean-spec + the gate specialized by the token count (1, 2, up to 4: the
# sums of 8, 16 or 32 values a lane, a transposing butterfly of 9, 16 or 31 shuffles). S = c10's
# build. Predicted: T = 1 -0.5 to -1 us. Suites on S2 (lean_forward covers T = 1..4).
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c11.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -8; }
t S2 X=1 test-test-lean_forward
t S2 X=1 test-test-moe_single_gpu
for v in S S2; do t $v X=1 test-test-forward_graph; grep -iE "  (forward_device|graph replay)" /tmp/o/t-$v-test-test-forward_graph-X.log | cut -c1-150; done
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 2 --hidden 256 --inter 256 --experts 8" "--tokens 4 --hidden 256 --inter 256 --experts 8" "--tokens 1 --hidden 256 --inter 256 --experts 128"; do
  line="[$cfg]"; for rep in 1 2 3; do for v in S S2; do
    timeout -k 2 60 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --lean --verify-tokens 4 --iters 50 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
