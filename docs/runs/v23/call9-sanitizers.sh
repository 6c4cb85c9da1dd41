#!/bin/bash
# session 16, call 9 (1 GPU): main 73806a8+. compute-sanitizer on the new decode paths (gate dot products at T <= 4,
# route_all with 1 / 2 / 8 slots) and a small OS-plan layer: memcheck, racecheck, synccheck on the 128-thread entry.
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c9.tar.xz -C /tmp/p
B=/tmp/p/FIN/bin-bin-flashmoe
for tool in memcheck racecheck synccheck; do
  for cfg in "--tokens 3 --experts 8 --hidden 256 --inter 256" "--tokens 2 --experts 64 --hidden 256 --inter 256 --gated --activation silu" "--tokens 1 --experts 128 --hidden 256 --inter 256" "--tokens 40 --experts 16 --hidden 256 --inter 256"; do
    s=$SECONDS; timeout -k 2 60 compute-sanitizer --tool $tool --error-exitcode 9 $B run --gpus 1 $cfg --max-blocks 4 --verify-tokens 4 --iters 2 > /tmp/s.log 2>&1; rc=$?
    echo "$tool [$cfg] rc=$rc in $((SECONDS-s))s: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|PASS|FAIL' /tmp/s.log | tr '\n' ' ' | cut -c1-200)"
  done
done
echo "=== elapsed ${SECONDS}s"
