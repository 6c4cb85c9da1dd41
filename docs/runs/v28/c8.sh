#!/bin/bash
# v28 c8 (1 GPU): branch gemm1-runs-knob (GEMM1 runs from 1 MB W2 panels by default): the ws
# suites under the new default (moe_single_gpu and moe_reliability on ws, ws_forward).
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c8.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-300 | head -8; }
t G X=1 test-test-ws_forward
t G FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t G FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability
echo "=== elapsed ${SECONDS}s"
