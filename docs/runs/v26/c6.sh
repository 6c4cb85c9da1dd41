#!/bin/bash
# session 19, call 6 (nvidia-h200-x2): main 5e6f040 (warp-local ws epilogue): moe_multi_gpu on both engines, forward_graph, 2-GPU ws A/B-free timing.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/M/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-300 | head -10; }
t X=1 test-test-moe_multi_gpu "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_multi_gpu "" 150
t X=1 test-test-forward_graph "" 90
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for a in "" "--mainloop ws"; do timeout -k 2 90 /tmp/p/M/bin-bin-flashmoe run --gpus 2 --tokens 8192 --experts 32 $a --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo "2 GPUs 8192/32 [${a:-default}] $(med) $(grep -c PASS /tmp/r.log) pass"; done
echo "=== elapsed ${SECONDS}s"
