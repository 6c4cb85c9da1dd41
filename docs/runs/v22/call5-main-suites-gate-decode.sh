#!/bin/bash
# session 15, call 5 (1 GPU): main 870082a (gemm0-splits merged, one-wave heuristic). Suites; gate K splits at decode
# (one K tile a split instead of four: the logits block took ~4 us in the tiny layer); decode sweep; tiny host time.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/m.tar.xz -C /tmp/p
trap 'cp -r /tmp/p/bench /tmp/o/ 2>/dev/null; tar czf $OUT/logs.tgz -C /tmp o' EXIT
K=/tmp/p/M; B=$K/bin-bin-flashmoe
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $K/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL|  forward_device|  graph replay|  kernel  " /tmp/t.log | cut -c1-200 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-moe_single_gpu "" 150
t FLASHMOE_TEST_STATIC_PLAN=0 test-test-moe_single_gpu gemm0_k_splits 90
t X=1 test-test-moe_reliability "" 120
t X=1 test-test-forward_graph "" 90
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
ab() { local cfg="$1"; shift; local line="[$cfg]"; for rep in 1 2; do for v in "$@"; do
    timeout -k 2 60 $B run --gpus 1 $cfg --gate-splits $v --verify-tokens 1 --iters 30 > /tmp/r.log 2>&1; line="$line g$v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; }
ab "--tokens 1 --experts 8 --hidden 256 --inter 256" 1 2 4
ab "--tokens 1 --experts 8" 8 16 32
ab "--tokens 8 --experts 8" 8 16 32
ab "--tokens 1 --experts 64" 8 16
ab "--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0 --tokens 1" 16 32
echo "=== A/B done at ${SECONDS}s"
export FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py
mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 150 $B bench --sweeps decode > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -E "^ +[0-9]+ +[0-9]+ +[0-9]+" /tmp/o/bench.log | head -20
echo "=== elapsed ${SECONDS}s"
