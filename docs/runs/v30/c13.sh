#!/bin/bash
# Session 23, call 13 (1 GPU). F = first-stage-probe (main + each task's first-stage wait at its own call site,
# so ncu tells first-stage waits from the rest). ncu with source counters at 16384/32, for the next
# session. The accounting in perf log v30 puts a fused GEMM task at ~29 us against the standalone
# tile's 23 us (tensor-active time per block ~590 us of 1030): where do consumers wait?
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c13.tar.xz -C /tmp/p
trap 'cp /tmp/o/*.csv.gz /tmp/o/*.txt $OUT/ 2>/dev/null' EXIT
B=/tmp/p/F/bin-bin-flashmoe
S="--section SpeedOfLight --section WarpStateStats --section SourceCounters"
cfg="--tokens 16384 --experts 32"
timeout -k 2 150 ncu --clock-control none $S --import-source no -k regex:moe_forward -s 2 -c 1 -o /tmp/o/f $B run --gpus 1 $cfg --verify-tokens 1 --iters 3 > /tmp/o/ncu-f.log 2>&1; echo "ncu [$cfg] rc=$? at ${SECONDS}s"
ncu -i /tmp/o/f.ncu-rep --page details > /tmp/o/c13-ncu-16k32.txt 2>&1; grep -E "Duration|Tensor|Warp Cycles Per Issued|SM Frequency" /tmp/o/c13-ncu-16k32.txt | head -8
ncu -i /tmp/o/f.ncu-rep --page source --csv --print-source sass > /tmp/o/c13-ncu-16k32-sass.csv 2>/dev/null; gzip -9 /tmp/o/c13-ncu-16k32-sass.csv
echo "=== elapsed ${SECONDS}s"
