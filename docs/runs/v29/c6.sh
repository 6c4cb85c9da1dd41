#!/bin/bash
# Session 22, call 6 (1 GPU): RF = main c9c8921; D = dispatch-pairs (each dispatch warp ranks
# two hit chunks a pass, their routing bytes loaded together). c5's timelines: dispatch took
# 12.6 us at 8192/64, 17 us at 16384/32, 34 us at 16384/128, all on the critical path (a block
# starts its tasks after its dispatch units). Predicted: dispatch about halves: 16384/128 -15 us
# (-1%), 16384/32 and 8192/64 -5..-8 us (-0.5..-1%).
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t.log | cut -c1-300 | head -8; }
t D FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t D Y=1 test-test-moe_single_gpu
t D FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability
t D X=1 test-test-ws_forward
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 128" "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 4096 --experts 128 --top-k 4"; do
  line="[$cfg]"; for rep in 1 2; do for v in RF D; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
for cfg in "--tokens 16384 --experts 128" "--tokens 16384 --experts 32"; do for v in RF D; do
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 5 --timeline > /tmp/r.log 2>&1; echo "--- $v [$cfg] $(med): $(grep -E 'barrier passed|dispatch done|first task' /tmp/r.log | awk '{printf "%s %s %s; ", $1, $2, $4}')"; done; done
echo "=== elapsed ${SECONDS}s"
