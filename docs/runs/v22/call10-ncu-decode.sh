#!/bin/bash
# session 15, call 10 (1 GPU): main 870082a. What limits a decode block's weight stream at ~17 GB/s? ncu on one
# Mixtral-size T = 1 forward and one 128/64 forward: DRAM throughput, L2, stall reasons.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/m.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
B=/tmp/p/M/bin-bin-flashmoe
S="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --metrics dram__bytes_read.sum,lts__t_sector_hit_rate.pct"
i=0; for cfg in "--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0 --tokens 1" "--tokens 128 --experts 64"; do i=$((i+1))
  timeout -k 2 110 ncu --clock-control none $S -k regex:moe_forward -s 2 -c 1 -o /tmp/o/n$i $B run --gpus 1 $cfg --verify-tokens 1 --iters 3 > /tmp/o/ncu$i.log 2>&1; echo "=== [$cfg] rc=$? at ${SECONDS}s"
  ncu -i /tmp/o/n$i.ncu-rep --page details > /tmp/o/details$i.txt 2>&1; grep -E "Duration|DRAM Throughput|Memory Throughput|L2 Cache Throughput|L1/TEX Cache Throughput|dram__bytes_read|sector_hit|Stall|Warp Cycles Per Issued|Achieved Occupancy|Mem Busy|Max Bandwidth|Mem Pipes" /tmp/o/details$i.txt | head -30
done
echo "=== elapsed ${SECONDS}s"
