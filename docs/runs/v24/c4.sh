#!/bin/bash
# session 17, call 4 (1 GPU): GR = branch gemm1-runs (the ws engine queues a run's GEMM1 tasks together, n-major, once
# the run's tiles finished GEMM0), GT = main 4816388. Suites on GR's ws engine, A/B, ncu DRAM bytes at Mixtral size.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/GR/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-200 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1 | tr -dc 'A-Z01' | tail -c 12).log; }
t "FLASHMOE_TEST_MAINLOOP=ws FLASHMOE_TEST_COPY_LOCAL=1" test-test-moe_single_gpu "" 150
t "FLASHMOE_TEST_MAINLOOP=ws" test-test-moe_single_gpu "" 150
t X=1 test-test-ws_forward "" 60
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
for cfg in "$X --tokens 4096" "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 8192 --experts 64 --gated --activation silu" "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do
  line="[$cfg]"; for rep in 1 2; do for v in GT GR; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== A/B done at ${SECONDS}s"
M="--metrics dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,gpu__time_duration.sum,sm__cycles_elapsed.avg.per_second"
for cfg in "$X --tokens 4096" "--tokens 16384 --experts 32 --gated --activation silu"; do for v in GT GR; do
  timeout -k 2 120 ncu --clock-control none $M -k regex:moe_forward -s 2 -c 1 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 3 > /tmp/o/ncu-$v.log 2>&1; echo "=== ncu $v [$cfg] rc=$?"; grep -E "dram__|lts__|hmma|duration|per_second" /tmp/o/ncu-$v.log; done; done
echo "=== elapsed ${SECONDS}s"
