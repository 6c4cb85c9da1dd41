#!/bin/bash
# session 14, call 10 (1 GPU): branch gemm0-narrow (G, 159c13c): ungated GEMM0 tasks narrowed at decode. Suites
# (the new bitwise test, the static plan's), forced shifts 0/1/2 vs the default on decode points, the decode sweep.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/g.tar.xz -C /tmp/p
trap 'cp -r /tmp/p/bench /tmp/o/ 2>/dev/null; tar czf $OUT/logs.tgz -C /tmp o' EXIT
K=/tmp/p/G; B=$K/bin-bin-flashmoe
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $K/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL" /tmp/t.log | cut -c1-200 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-moe_single_gpu "" 150
t X=1 test-test-moe_reliability "" 120
t X=1 test-test-forward_graph "" 90
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 1 --experts 8" "--tokens 1 --experts 64" "--tokens 8 --experts 8" "--tokens 128 --experts 8" "--tokens 256 --experts 8" "--tokens 128 --experts 64"; do
  line="[$cfg]"; for rep in 1 2; do for v in "" "--gemm0-shift 0" "--gemm0-shift 1" "--gemm0-shift 2"; do
    timeout -k 2 60 $B run --gpus 1 $cfg $v --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line ${v:-default}:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)/$(grep -oP 'output hash, rank 0: \K\S{6}' /tmp/r.log)"; done; done; echo "$line"; done
echo "=== A/B done at ${SECONDS}s"
export FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py
mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 200 $B bench --sweeps decode > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -E "^ +[0-9]+ +[0-9]+ +[0-9]+" /tmp/o/bench.log | head -20
echo "=== elapsed ${SECONDS}s"
