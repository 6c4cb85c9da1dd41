#!/bin/bash
# next session, call 1 (1 GPU): branch gemm0-splits (K0 = c14968d): GEMM0 K splits at decode, NOT yet GPU-run.
# Suites (the new gemm0_k_splits test, the static plan's bitwise test), A/B default vs --gemm0-splits 1 on decode
# points (prediction: -10 to -20% at E = 8 T >= 8, -15 to -25% at T = 1 with H = I = 2048; Mixtral and E = 64
# unchanged: no split), a timeline, then the decode sweep. Merge if the suites pass and it wins.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/next.tar.xz -C /tmp/p
trap 'cp -r /tmp/p/bench /tmp/o/ 2>/dev/null; tar czf $OUT/logs.tgz -C /tmp o' EXIT
K=/tmp/p/K0; B=$K/bin-bin-flashmoe
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $K/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL" /tmp/t.log | cut -c1-200 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-moe_single_gpu "" 150
t FLASHMOE_TEST_STATIC_PLAN=0 test-test-moe_single_gpu gemm0_k_splits 90
t X=1 test-test-moe_reliability "" 120
t X=1 test-test-forward_graph "" 90
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
for cfg in "--tokens 1 --experts 8" "--tokens 1 --experts 64" "--gated --activation silu --tokens 1 --experts 64" "--tokens 8 --experts 8" "--tokens 128 --experts 8" "--tokens 256 --experts 8" "--tokens 128 --experts 64" "$X --tokens 1" "--tokens 1 --experts 8 --hidden 256 --inter 256"; do
  line="[$cfg]"; for rep in 1 2; do for v in "" "--gemm0-splits 1"; do
    timeout -k 2 60 $B run --gpus 1 $cfg $v --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line ${v:-default}:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== A/B done at ${SECONDS}s"
timeout -k 2 60 $B run --gpus 1 --tokens 128 --experts 8 --verify-tokens 1 --iters 5 --timeline > /tmp/o/timeline.log 2>&1; grep -E "last task end|OS block|processors" /tmp/o/timeline.log
export FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py
mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 200 $B bench --sweeps decode > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -E "^ +[0-9]+ +[0-9]+ +[0-9]+" /tmp/o/bench.log | head -20
echo "=== elapsed ${SECONDS}s"
s=$SECONDS; timeout -k 2 90 compute-sanitizer --tool memcheck --error-exitcode 9 $B run --gpus 1 --tokens 8 --experts 8 --hidden 256 --inter 256 --gemm0-splits 4 --max-blocks 4 --verify-tokens 4 --iters 2 > /tmp/o/memcheck.log 2>&1; echo "memcheck rc=$? in $((SECONDS-s))s"; grep -E "ERROR SUMMARY|PASS|FAIL" /tmp/o/memcheck.log | head -5
echo "=== elapsed ${SECONDS}s"
