#!/bin/bash
# Session 23, call 11 (1 GPU). M = main 16d947d (with wait-split); P = progressive-combine (one
# GPU, no shared expert: each combine task is published once its tokens' row tiles all landed,
# not once every GEMM1 task did). c9: ws consumers idle 15-20 us a block at the end of large
# forwards (the last GEMM1 wave, then the combine). Predicted: that idle halves, forwards
# -1..-2% at T >= 8192; outputs bitwise as before (same sums in the same order).
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c11.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-300 | head -8; }
t P X=1 test-test-ws_forward
t P FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t P X=1 test-test-moe_single_gpu
t P FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability
t P X=1 test-test-forward_graph
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 16384 --experts 128" "--tokens 4096 --experts 128" "--tokens 8192 --experts 64 --gated --activation silu" "--tokens 128 --experts 64"; do
  line="[$cfg]"; for rep in 1 2; do for v in M P; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do for v in M P; do
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 5 --timeline > /tmp/r.log 2>&1; echo "--- $v timeline [$cfg] $(med)"; sed -n '/timeline of/,$p' /tmp/r.log | sed -n '2,15p' | grep -E "last task|exit|OS block|idle|processors"; done; done
echo "=== elapsed ${SECONDS}s"
