#!/bin/bash
# session 10, call 6 (1 GPU): the new GEMM1 split rule (grid share or GEMM0's task length, >= 4 K tiles) vs the old counts, same binary
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/b.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
N=/tmp/p/N; B=$N/bin-bin-flashmoe
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $N/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|error|^test .*FAIL" /tmp/t.log | cut -c1-220 | head -8; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-moe_single_gpu "" 150
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"
X="--hidden 4096 --inter 14336 --experts 8"
i=0
ab() { local cfg="$1" old="$2"; for rep in 1 2; do for v in new old; do i=$((i+1))
  timeout -k 2 60 $B run --gpus 1 $cfg --verify-tokens 4 --iters 40 $([ $v = old ] && echo --gemm1-splits $old) > /tmp/r.log 2>&1
  echo "[$cfg] $v: rc=$? $(med) ms $(grep -c PASS /tmp/r.log)pass"; cp /tmp/r.log /tmp/o/run-$i.log; done; done; }
ab "$G $X --tokens 4" 1
ab "$G $X --tokens 8" 1
ab "$G $X --tokens 32" 1
ab "$G $X --tokens 64" 1
ab "--tokens 1 --experts 64" 2
ab "--tokens 2 --experts 64" 2
echo "=== A/B done at $SECONDS"
t X=1 test-test-moe_reliability "" 120
t X=1 test-test-forward_graph "" 90
echo "=== elapsed $SECONDS"
