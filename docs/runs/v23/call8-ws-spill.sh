#!/bin/bash
# session 16, call 8 (1 GPU): WS = branch ws-spill (ws entries without spills: the warpgroup thread index re-read from
# %tid.x), FN = main 71fdfc5. ws suites on WS, then A/B on the layers the ws engine runs.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c8.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/WS/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-200 | head -10; }
t X=1 test-test-ws_forward "" 90
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu "" 120
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
for cfg in "--tokens 16384 --experts 32" "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 8192 --experts 64" "--tokens 4096 --experts 64" "--tokens 2048 --experts 32" "$X --tokens 4096"; do
  line="[$cfg]"; for rep in 1 2; do for v in FN WS; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
