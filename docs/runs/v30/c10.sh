#!/bin/bash
# Session 23, call 10 (1 GPU). W = wait-split 401a87c (timeline: the producer's waits split,
# consumer 0's idle time; the consumer clock runs only when a timeline is recorded). Suites on
# W, then forwards M (main f0f641a) vs W without a timeline: predicted even.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c10.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-300 | head -8; }
t W X=1 test-test-ws_forward
t W FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t W X=1 test-test-moe_single_gpu
t W FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability
t W X=1 test-test-forward_graph
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 128 --experts 64"; do
  line="[$cfg]"; for rep in 1 2; do for v in M W; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
