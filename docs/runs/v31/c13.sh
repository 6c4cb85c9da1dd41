#!/bin/bash
# Session 24, call 13 (1 GPU). Final main (task clock, power report, PCI refactor): the ws and
# default suites, and `run` with its power line, short and sustained.
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c13.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-300 | head -8; }
t M X=1 test-test-ws_forward
t M X=1 test-test-moe_single_gpu
t M FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t M X=1 test-test-forward_graph
t M X=1 test-test-moe_reliability
for it in 30 2000; do /tmp/p/M/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 8 --iters $it | grep -E "verify:|forward:|power:"; done
echo "=== elapsed ${SECONDS}s"
