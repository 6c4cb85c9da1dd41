#!/bin/bash
# session 15, call 9 (1 GPU): R = tiny-ring 5b84446 (decode A tiles of <= 8 rows as one 1 KB atom a stage: 5-stage
# ring, 4 in flight instead of 3) against M = main 870082a. Suites and memcheck on R; A/B on decode points.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/m.tar.xz -C /tmp/p && tar xJf .gpuws/r.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
K=/tmp/p/R
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $K/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL" /tmp/t.log | cut -c1-200 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-moe_single_gpu "" 150
t FLASHMOE_TEST_STATIC_PLAN=0 test-test-moe_single_gpu "" 150
t X=1 test-test-moe_reliability "" 120
t X=1 test-test-forward_graph "" 90
s=$SECONDS; timeout -k 2 60 compute-sanitizer --tool memcheck --error-exitcode 9 $K/bin-bin-flashmoe run --gpus 1 --tokens 4 --experts 8 --hidden 256 --inter 256 --max-blocks 4 --verify-tokens 4 --iters 2 > /tmp/o/memcheck.log 2>&1; echo "memcheck rc=$? in $((SECONDS-s))s $(grep -E 'ERROR SUMMARY' /tmp/o/memcheck.log)"
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
ab() { local cfg="$1" line="[$1]"; shift; for v in "$@"; do
    timeout -k 2 60 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; echo "$line"; }
ab "--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0 --tokens 1" M R R M
for c in "--tokens 1 --experts 64" "--tokens 1 --experts 8" "--tokens 4 --experts 64" "--tokens 8 --experts 8" "--tokens 128 --experts 64" "--tokens 32 --experts 64" "--tokens 1 --experts 8 --hidden 256 --inter 256"; do ab "$c" M R M R; done
echo "=== elapsed ${SECONDS}s"
