#!/bin/bash
# Session 24, call 4 (1 GPU). c2's task clock: GEMM1's `finish` (a fence + red.release per task)
# costs 1.3-2.8 us of each task. RR = task-clock + on one GPU the consumers keep GEMM1's rows in
# shared memory and report them (one fence + add) only when they would wait for a task and at
# exit. SL = task-clock + streamed-row stores keep 3 TMA stores in flight (count published 2
# slices later) instead of waiting for the previous store's completion at every refill.
# Predicted: RR GEMM1 finish 1.4 -> ~0.1 us, forwards -2..-3%; SL storing tasks' mainloop
# 48 -> 35-40 us, 16384/32 -1..-2% (if the completion wait is the chain's cost).
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t-$1-$3.log 2>&1; echo "=== $1 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3.log | cut -c1-300 | head -8; }
t RR X=1 test-test-ws_forward
t RR FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t RR FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability
t RR X=1 test-test-forward_graph
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32 --gated --activation silu --capacity-factor 0" "--tokens 16384 --experts 128"; do
  line="[$cfg]"; for rep in 1 2; do for v in M RR SL; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
for v in RR SL; do for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 5 --timeline > /tmp/r.log 2>&1; echo "--- $v timeline [$cfg] $(med) $(grep -c PASS /tmp/r.log)"; sed -n '/timeline of/,$p' /tmp/r.log | grep -E "last task|processors:|consumer 0|streamed"
done; done
echo "=== elapsed ${SECONDS}s"
