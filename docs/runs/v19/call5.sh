#!/bin/bash
# session 12, call 5 (1 GPU): ws epilogue with static passes (E) against ws-sync (C), same call; ws suites on E
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/b.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
E=/tmp/p/E
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $E/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL|TFLOP" /tmp/t.log | cut -c1-200 | head -8; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-ws_tile "" 60
t X=1 test-test-ws_forward "" 60
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability "" 150
med() { grep -oP "forward: median \K[0-9.]+ ms \(min [0-9.]+\)" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"; X="--hidden 4096 --inter 14336 --experts 8"
i=0
for cfg in "--tokens 16384 --experts 32" "--tokens 16384 --experts 32 --bias" "$G --tokens 16384 --experts 32" "--tokens 8192 --experts 64" "$G --tokens 8192 --experts 64" "--tokens 4096 --experts 64" "$G $X --tokens 4096"; do for rep in 1 2; do for v in C E; do i=$((i+1))
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] $v: rc=$? $(med) $(grep -c PASS /tmp/r.log)pass"; cp /tmp/r.log /tmp/o/run-$i-$v.log; done; done; done
timeout -k 2 60 $E/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 4 --iters 20 --timeline > /tmp/o/timeline-16k-E.log 2>&1; grep -E "first task|last task|exit|processors|combine" /tmp/o/timeline-16k-E.log
echo "=== elapsed ${SECONDS}s"
