#!/bin/bash
# session 18, call 2 (1 GPU): S = stream-rows + the streamed-slices timeline count (1ea1e60); D = stream-defer (5389071:
# a run's later GEMM0 tasks held in the subscriber until ~a wave of claims after its first tasks). D's suites, timelines
# of both (how many K slices the readers took by TMA), A/B S vs D vs D --no-stream-rows.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/D/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-300 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1 | tr -dc 'A-Z01' | tail -c 12).log; }
t X=1 test-test-ws_forward "" 90
t "FLASHMOE_TEST_MAINLOOP=ws FLASHMOE_TEST_STREAM_ROWS=1" test-test-moe_single_gpu "" 150
t "FLASHMOE_TEST_MAINLOOP=ws FLASHMOE_TEST_STREAM_ROWS=1" test-test-moe_reliability "" 150
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
i=0; for cfg in "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do for v in S D; do i=$((i+1))
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 5 --timeline > /tmp/o/tl$i.log 2>&1; echo "--- $v timeline [$cfg]"; grep -E "forward:|FAIL" /tmp/o/tl$i.log | cut -c1-80; grep -E "first task|last task|all dispatch|processors:|streamed rows" /tmp/o/tl$i.log; done; done
echo "=== timelines done at ${SECONDS}s"
for cfg in "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 16384 --experts 32" "--tokens 8192 --experts 64 --gated --activation silu" "--tokens 8192 --experts 64" "$X --tokens 4096"; do
  line="[$cfg]"; for rep in 1 2; do for va in "S " "D " "D --no-stream-rows"; do set -- $va; v=$1; a=${2:-}
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg $a --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v${a:+-no}:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
