#!/bin/bash
# session 17, call 1 (1 GPU): GT = branch gemm0-tma (GEMM0's A by one TMA box from the dispatch rows when they were
# copied, `--copy-local` on one GPU). Suites with copy-local on the ws engine, then A/B: default vs --copy-local.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/GT/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-200 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1 | tr -dc 'A-Z01' | tail -c 12).log; }
t "FLASHMOE_TEST_MAINLOOP=ws FLASHMOE_TEST_COPY_LOCAL=1" test-test-moe_single_gpu "" 150
t "FLASHMOE_TEST_MAINLOOP=ws" test-test-moe_single_gpu "" 150
t X=1 test-test-ws_forward "" 60
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 8192 --experts 32" "$X --tokens 4096"; do
  line="[$cfg]"; for rep in 1 2; do for a in "" "--copy-local"; do
    timeout -k 2 90 /tmp/p/GT/bin-bin-flashmoe run --gpus 1 $cfg $a --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line ${a:-def}:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; cp /tmp/r.log /tmp/o/run-$(echo "$cfg$a" | tr -dc 'a-z0-9' | tail -c 40).log; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
