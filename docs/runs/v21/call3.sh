#!/bin/bash
# session 14, call 3 (1 GPU): branch narrow-epilogue (N): GEMM1's epilogue narrows in registers (bias added there)
# and stages 16-bit outputs, 4 passes instead of 8. M2 = main 6aa4b5d. Standalone tile N vs M2, suites on N,
# A/B N vs M2 on 8 layers (output hashes must match: same values), timeline.
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/n.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
K=/tmp/p/N
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $K/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $K $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL|TFLOP/s" /tmp/t.log | cut -c1-200 | head -24; cp /tmp/t.log /tmp/o/$(basename $K)-$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-ws_tile "" 90
K=/tmp/p/M2; t X=1 test-test-ws_tile throughput 60; K=/tmp/p/N
t X=1 test-test-ws_tile throughput 60
t X=1 test-test-ws_forward "" 60
t X=1 test-test-moe_single_gpu "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-forward_graph "" 90
med() { grep -oP "forward: median \K[0-9.]+ ms \(min [0-9.]+\)" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"; X="--hidden 4096 --inter 14336 --experts 8"
i=0
for cfg in "--tokens 16384 --experts 32" "--bias --tokens 16384 --experts 32" "$G --tokens 16384 --experts 32" "--tokens 8192 --experts 64" "$G --tokens 8192 --experts 64" "--tokens 4096 --experts 64" "--tokens 2048 --experts 32" "$G $X --tokens 4096"; do for rep in 1 2; do for v in N M2; do i=$((i+1))
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] $v: rc=$? $(med) $(grep -c PASS /tmp/r.log)pass $(grep -oP 'output hash, rank 0: \K\S+' /tmp/r.log)"; cp /tmp/r.log /tmp/o/run-$i.log; done; done; done
echo "=== A/B done at ${SECONDS}s"
timeout -k 2 60 $K/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 1 --iters 5 --timeline > /tmp/o/timeline.log 2>&1; echo "timeline rc=$?"; grep -E "last task end|exit  |OS block|processors" /tmp/o/timeline.log
echo "=== elapsed ${SECONDS}s"
