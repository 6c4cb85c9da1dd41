#!/bin/bash
# session 17, call 10 (1 GPU): BR = branch a-box-pure (the choice of GEMM0/GEMM1's A box as layout::a_box_row; the ws
# producer's code changed), MN = main c6764e2+. The ws suites with copied rows on BR, then A/B.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c10.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/BR/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-200 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1 | tr -dc 'A-Z01' | tail -c 12).log; }
t "FLASHMOE_TEST_MAINLOOP=ws FLASHMOE_TEST_COPY_LOCAL=1" test-test-moe_single_gpu "" 120
t X=1 test-test-ws_forward "" 60
t X=1 test-test-ws_tile matches_the_cpu 60
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 16384 --experts 32"; do
  line="[$cfg]"; for rep in 1 2; do for v in MN BR; do
    timeout -k 2 60 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
