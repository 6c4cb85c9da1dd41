#!/bin/bash
# Session 24, call 2 (1 GPU). c1 showed operands from L2 instead of DRAM buy only 3% at
# 16384/32: the fused task's extra time is not DRAM. Branch task-clock (CLK): consumer 0 times
# its GEMM tasks by kind (GEMM0 storing its rows / other GEMM0 / GEMM1): mainloop, epilogue,
# finish. The standalone tile's mainloop+epilogue is ~23 us per 128x256x2048 task.
# Predicted: mainloop ~22-24 us for GEMM0 by TMA and GEMM1, higher for the storing GEMM0,
# epilogue 1-3 us, finish < 1 us; if the mainloop is near 23, the gap is around it.
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t-$1-$3.log 2>&1; echo "=== $1 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3.log | cut -c1-300 | head -8; }
t CLK X=1 test-test-ws_forward
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do
  line="[$cfg]"; for rep in 1 2; do for v in M CLK; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32 --gated --activation silu --capacity-factor 0" "--tokens 16384 --experts 32 --no-stream-rows"; do
  timeout -k 2 90 /tmp/p/CLK/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 5 --timeline > /tmp/r.log 2>&1; echo "--- timeline [$cfg] $(med) $(grep -c PASS /tmp/r.log)"; sed -n '/timeline of/,$p' /tmp/r.log | grep -E "first task|last task|processors:|consumer 0|streamed"
done
echo "=== elapsed ${SECONDS}s"
