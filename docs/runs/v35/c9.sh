#!/bin/bash
# v35 c9 (1 GPU). R = main after the review (GEMM0's dot products shared by the items and the
# sweep; SASS within 32 instructions): lean_forward by default and with the sweep forced,
# moe_single_gpu by default, and the tiny layer / sweep layer kernel times.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c9.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
t R X=1 test-test-lean_forward
t R FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t R X=1 test-test-moe_single_gpu
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 1 --hidden 2048 --inter 2048 --experts 8"; do
  line="[$cfg]"; for rep in 1 2; do timeout -k 2 60 /tmp/p/R/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 50 > /tmp/r.log 2>&1; line="$line $(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
