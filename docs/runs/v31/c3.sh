#!/bin/bash
# Session 24, call 3 (1 GPU). c2 (task clock): at 16384/32 the 241 GEMM0 tasks that store their
# row tile run a 47.8 us mainloop (others 19-20): their cp.async gathers wait on DRAM stage by
# stage. PF = task-clock + each producer thread prefetching its row's gathered K slices into L2
# at task start (cp.async.bulk.prefetch.L2). Predicted: storing tasks' mainloop 48 -> ~30 us,
# 8192/64's readers (54% gathered) 25 -> ~22 us; forwards 16384/32 -2..-3%, 8192/64 -3..-6%.
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t-$1-$3.log 2>&1; echo "=== $1 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3.log | cut -c1-300 | head -8; }
t PF X=1 test-test-ws_forward
t PF FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32 --gated --activation silu --capacity-factor 0" "--tokens 16384 --experts 128"; do
  line="[$cfg]"; for rep in 1 2; do for v in M PF; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 16384 --experts 128"; do
  timeout -k 2 90 /tmp/p/PF/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 5 --timeline > /tmp/r.log 2>&1; echo "--- PF timeline [$cfg] $(med) $(grep -c PASS /tmp/r.log)"; sed -n '/timeline of/,$p' /tmp/r.log | grep -E "first task|last task|processors:|consumer 0|streamed"
done
echo "=== elapsed ${SECONDS}s"
