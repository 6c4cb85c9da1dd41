#!/bin/bash
# session 17, call 7 (1 GPU): FLASHMOE_SANITIZE=1 build of main 49038b4. compute-sanitizer on the ws engine's new paths:
# GEMM0's A by TMA from copied dispatch rows, and GEMM1 tasks per run (I = 8192: 4 MB W2 panels), on 4 blocks.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c7.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
B=/tmp/p/SAN/bin-bin-flashmoe
i=0
for cfg in "--hidden 256 --inter 8192 --experts 4 --tokens 512 --gated --activation silu" "--hidden 256 --inter 2048 --experts 8 --tokens 300 --gated --activation silu --bias"; do
  for tool in memcheck synccheck racecheck; do i=$((i+1))
    timeout -k 2 100 compute-sanitizer --tool $tool $B run --gpus 1 --mainloop ws --max-blocks 4 $cfg --verify-tokens 4 --iters 1 > /tmp/o/s$i.log 2>&1
    echo "=== $tool [$cfg] rc=$? at ${SECONDS}s: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|HAZARD' /tmp/o/s$i.log | tail -1) $(grep -cE 'PASS' /tmp/o/s$i.log) pass"
    grep -E "^verify|copied|dropped" /tmp/o/s$i.log | head -2
  done
done
echo "=== elapsed ${SECONDS}s"
