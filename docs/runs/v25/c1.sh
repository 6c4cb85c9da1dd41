#!/bin/bash
# session 18, call 1 (1 GPU): S = branch stream-rows (own rows streamed by each row tile's first GEMM0 task).
# Suites with streaming forced on ws, the new bitwise test, then A/B: default (stream) vs --no-stream-rows
# (v24's choice: copy when gated wide, else gather) in the same binary; a timeline of SwiGLU 16384/32.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/S/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-300 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1 | tr -dc 'A-Z01' | tail -c 12).log; }
t X=1 test-test-ws_forward "" 90
t "FLASHMOE_TEST_MAINLOOP=ws FLASHMOE_TEST_STREAM_ROWS=1" test-test-moe_single_gpu "" 150
t X=1 test-test-gemm_tile "" 60
t X=1 test-test-ws_tile "" 60
B=/tmp/p/S/bin-bin-flashmoe
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
for cfg in "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 16384 --experts 32" "--tokens 8192 --experts 64 --gated --activation silu" "--tokens 8192 --experts 64" "--tokens 4096 --experts 128" "$X --tokens 4096"; do
  line="[$cfg]"; for rep in 1 2; do for a in "--stream-rows" "--no-stream-rows"; do
    timeout -k 2 90 $B run --gpus 1 $cfg $a --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line ${a}:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== A/B done at ${SECONDS}s"
grep -E "set-up" /tmp/r.log
i=0; for cfg in "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 16384 --experts 32"; do i=$((i+1))
  timeout -k 2 90 $B run --gpus 1 $cfg --verify-tokens 1 --iters 5 --timeline > /tmp/o/tl$i.log 2>&1; echo "--- timeline [$cfg]"; grep -E "forward:|PASS|FAIL|set-up" /tmp/o/tl$i.log | cut -c1-200; sed -n '/timeline of/,$p' /tmp/o/tl$i.log | head -30; done
echo "=== elapsed ${SECONDS}s"
