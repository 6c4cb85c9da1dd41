#!/bin/bash
# Session 23, call 5 (1 GPU). M = main f0f641a; S = sub-gpu-scope (subscribers read this GPU's
# own dispatch flags with ld.acquire.gpu instead of .sys; a peer's stay .sys). At 8192/64 the
# OS block sees its first flag at 41.6 us and publishes its first tile at 49.7, the median
# processor's first task at 57.1 (c4). Predicted: first task -2..-5 us where the subscriber's
# serial flag reads matter (8192/64, 16384/128), forwards -0.3..-1%; else even.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-300 | head -8; }
t S X=1 test-test-ws_forward
t S FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t S FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 8192 --experts 64" "--tokens 16384 --experts 128" "--tokens 16384 --experts 32" "--tokens 4096 --experts 128" "--tokens 8192 --experts 32"; do
  line="[$cfg]"; for rep in 1 2; do for v in M S; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
for cfg in "--tokens 8192 --experts 64" "--tokens 16384 --experts 128"; do for v in M S; do
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 5 --timeline > /tmp/r.log 2>&1; echo "--- $v timeline [$cfg] $(med)"; sed -n '/timeline of/,$p' /tmp/r.log | sed -n '2,12p' | grep -E "barrier|dispatch|first|OS|processors"; done; done
echo "=== elapsed ${SECONDS}s"
