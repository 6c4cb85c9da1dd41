#!/bin/bash
# v32 c5 (1 GPU). NF = branch gemm1-nofence: the ws consumers' `fence.proxy.async.global` after
# the epilogue only for GEMM0 tasks (their rows may be GEMM1's A by TMA), inside `ffn::finish`;
# GEMM1's rows go to the combine's generic loads. M = main. Predicted: if the fence waits for the
# epilogue's 16 stores a thread (~1-2 us), GEMM1 tasks 1-2 us shorter, forwards -1 to -3%.
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
nvidia-smi --query-gpu=index,name,clocks.sm --format=csv,noheader
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t-$1-$3.log 2>&1; echo "=== $1 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3.log | cut -c1-300 | head -8; }
t NF X=1 test-test-ws_forward
t NF FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32 --gated --activation silu --capacity-factor 0" "--tokens 8192 --experts 32"; do
  line="[$cfg]"; for rep in 1 2 3; do for v in M NF; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
for v in M NF; do for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 5 --timeline > /tmp/r.log 2>&1; echo "--- $v timeline [$cfg] $(med) $(grep -c PASS /tmp/r.log)"; sed -n '/timeline of/,$p' /tmp/r.log | grep -E "last task|processors:|consumer 0|task clock|GEMM" | head -8
done; done
echo "=== elapsed ${SECONDS}s"
