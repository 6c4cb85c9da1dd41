#!/bin/bash
# Session 22, call 5 (1 GPU): main c9c8921 after the fold. Timelines (what is left around the
# tasks: prologue, waiting, tail) and ncu with source counters at 8192/64, for the next session
# (python3 docs/runs/v28/sass_top.py c5-ncu-8k64-sass.csv.gz; compare v28's c3).
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
trap 'cp /tmp/o/*.csv.gz /tmp/o/*.txt $OUT/ 2>/dev/null' EXIT
B=/tmp/p/RF/bin-bin-flashmoe
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 8192 --experts 64" "--tokens 16384 --experts 128" "--tokens 16384 --experts 32"; do
  timeout -k 2 90 $B run --gpus 1 $cfg --verify-tokens 1 --iters 5 --timeline > /tmp/r.log 2>&1; echo "--- timeline [$cfg] $(med) $(grep -c PASS /tmp/r.log)"; sed -n '/timeline of/,$p' /tmp/r.log | sed -n '2,12p'; done
S="--section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats --section SourceCounters"
cfg="--tokens 8192 --experts 64"
timeout -k 2 150 ncu --clock-control none $S --import-source no -k regex:moe_forward -s 2 -c 1 -o /tmp/o/f $B run --gpus 1 $cfg --verify-tokens 1 --iters 3 > /tmp/o/ncu-f.log 2>&1; echo "ncu [$cfg] rc=$? at ${SECONDS}s"
ncu -i /tmp/o/f.ncu-rep --page details > /tmp/o/c5-ncu-8k64.txt 2>&1; grep -E "Duration|Tensor|L2 Hit|DRAM Through|Warp Cycles Per Issued|SM Frequency|Memory Throughput" /tmp/o/c5-ncu-8k64.txt | head -12
ncu -i /tmp/o/f.ncu-rep --page raw --csv --metrics dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active 2>/dev/null | tail -2
ncu -i /tmp/o/f.ncu-rep --page source --csv --print-source sass > /tmp/o/c5-ncu-8k64-sass.csv 2>/dev/null; gzip -9 /tmp/o/c5-ncu-8k64-sass.csv
echo "=== elapsed ${SECONDS}s"
