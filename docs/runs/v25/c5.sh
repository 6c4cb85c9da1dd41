#!/bin/bash
# session 18, call 5 (nvidia-h200-x2): main afdc92d - the multi-GPU suite on both engines (on ws, own rows are now
# streamed while peers' rows are copied by the dispatch), and a two-GPU ws run with the f64 check.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/X/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-300 | head -10; }
t X=1 test-test-moe_multi_gpu "" 120
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_multi_gpu "" 120
timeout -k 2 60 /tmp/p/X/bin-bin-flashmoe run --gpus 2 --tokens 8192 --experts 32 --mainloop ws --verify-tokens 4 --iters 10 --timeline > /tmp/r.log 2>&1; echo "rc=$?"; grep -E "set-up|verify|forward:|streamed rows" /tmp/r.log | cut -c1-200
echo "=== elapsed ${SECONDS}s"
