#!/bin/bash
# session 10, call 5 (1 GPU): finer GEMM1 K splits at decode (compact partials, up to 16) - forced-split sweep + suites
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/b.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
N=/tmp/p/N; B=$N/bin-bin-flashmoe
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $N/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|error|^test .*FAIL|forward_device \(" /tmp/t.log | cut -c1-220 | head -8; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-moe_single_gpu gemm1_k_splits 120
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"
X="--hidden 4096 --inter 14336 --experts 8"
i=0
sweep() { local cfg="$1"; shift; for rep in 1 2; do for s in "$@"; do i=$((i+1))
  timeout -k 2 60 $B run --gpus 1 $cfg --verify-tokens 4 --iters 40 --timeline $([ $s != d ] && echo --gemm1-splits $s) > /tmp/r.log 2>&1
  echo "[$cfg] splits $s: rc=$? $(med) ms $(grep -c PASS /tmp/r.log)pass | $(grep -iE 'first task|last task|processors:' /tmp/r.log | tr -s ' ' | head -3 | cut -c1-64 | tr '\n' '|')"
  cp /tmp/r.log /tmp/o/run-$i.log; done; done; }
sweep "$G $X --tokens 1" d 8 12 16
sweep "--tokens 1 --experts 64" d 4 8 16
sweep "--tokens 4 --experts 64" d 4 8
sweep "$G $X --tokens 4" d 2 4
sweep "--tokens 1 --hidden 256 --inter 256 --experts 8" d 2 4
echo "=== sweep done at $SECONDS"
t X=1 test-test-moe_single_gpu "" 150
t X=1 test-test-moe_reliability "" 120
t X=1 test-test-forward_graph "" 90
echo "=== elapsed $SECONDS"
