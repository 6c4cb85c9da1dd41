#!/bin/bash
# session 13, call 3 (1 GPU): branch fused-combine. The ws suites with the combine fused (default) and
# the new bitwise test; A/B fused vs --no-fused-combine (same binary); timelines; ncu DRAM bytes.
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/f.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
K=/tmp/p/F; B=$K/bin-bin-flashmoe
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $K/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL|case " /tmp/t.log | cut -c1-220 | head -24; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-ws_forward "" 90
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-forward_graph "" 90
med() { grep -oP "forward: median \K[0-9.]+ ms \(min [0-9.]+\)" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"; X="--hidden 4096 --inter 14336 --experts 8"
i=0
for cfg in "--tokens 16384 --experts 32" "$G --tokens 16384 --experts 32" "--tokens 8192 --experts 64" "$G $X --tokens 4096"; do for rep in 1 2; do for v in "" "--no-fused-combine"; do i=$((i+1))
  timeout -k 2 90 $B run --gpus 1 $cfg $v --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] ${v:-fused}: rc=$? $(med) $(grep -c PASS /tmp/r.log)pass"; cp /tmp/r.log /tmp/o/run-$i.log; done; done; done
echo "=== A/B done at ${SECONDS}s"
for v in "" "--no-fused-combine"; do timeout -k 2 60 $B run --gpus 1 --tokens 16384 --experts 32 $v --verify-tokens 1 --iters 5 --timeline > /tmp/o/timeline${v}.log 2>&1; echo "timeline ${v:-fused} rc=$?"; grep -vE "PASS|layer:" /tmp/o/timeline${v}.log | head -16; done
echo "=== elapsed ${SECONDS}s"
