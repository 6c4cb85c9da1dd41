#!/bin/bash
# session 14, call 9 (1 GPU): N2 = narrow-epilogue 34d4cbd + GEMM0's staged store told `gated` from the layer alone (no
# per-task predicate: ptxas no longer stores its packed predicate word per task). ws suites, A/B N2 vs M2 (main),
# ncu local-memory instruction counts at 16384/32 (main: 626K loads, 1.6K stores; N: 1.07M, 176K).
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/n2.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
K=/tmp/p/N2
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $K/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL" /tmp/t.log | cut -c1-200 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability "" 150
med() { grep -oP "forward: median \K[0-9.]+ ms \(min [0-9.]+\)" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"; X="--hidden 4096 --inter 14336 --experts 8"
i=0
for cfg in "--tokens 16384 --experts 32" "--bias --tokens 16384 --experts 32" "$G --tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 4096 --experts 64" "$G $X --tokens 4096"; do for rep in 1 2; do for v in N2 M2; do i=$((i+1))
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] $v: rc=$? $(med) $(grep -c PASS /tmp/r.log)pass $(grep -oP 'output hash, rank 0: \K\S+' /tmp/r.log)"; cp /tmp/r.log /tmp/o/run-$i.log; done; done; done
echo "=== A/B done at ${SECONDS}s"
timeout -k 2 120 ncu --clock-control none --metrics gpu__time_duration.sum,smsp__inst_executed.sum,smsp__sass_inst_executed_op_local_ld.sum,smsp__sass_inst_executed_op_local_st.sum -k regex:moe_forward -s 2 -c 1 $K/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 1 --iters 3 > /tmp/o/ncu-N2.log 2>&1; echo "ncu rc=$?"; grep -E "^\s+(gpu__|smsp__)" /tmp/o/ncu-N2.log
echo "=== elapsed ${SECONDS}s"
