#!/bin/bash
# v34 c5 (1 GPU). Where the lean kernel's ~14 us go (c4 timeline: logits 1.4, routing 2.5,
# prepare 1.0, items 5.7, arrive + reduce 3.6 us): ncu source counters (stall reasons per SASS
# line) and memory metrics on the tiny layer (T = 1, H = I = 256, E = 8), L3 from c4.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
trap 'cp /tmp/o/*.txt /tmp/o/*.csv.gz $OUT/ 2>/dev/null' EXIT
S="--section SpeedOfLight --section WarpStateStats --section SourceCounters --section MemoryWorkloadAnalysis"
timeout -k 2 120 ncu --clock-control none $S --import-source no -k regex:moe_lean -s 5 -c 1 -o /tmp/o/lean /tmp/p/L3/bin-bin-flashmoe run --gpus 1 --tokens 1 --hidden 256 --inter 256 --experts 8 --lean --verify-tokens 1 --iters 8 > /tmp/o/ncu.log 2>&1; echo "ncu rc=$?"
ncu -i /tmp/o/lean.ncu-rep --page details > /tmp/o/ncu-lean.txt 2>&1; grep -E "Duration|Warp Cycles Per Issued|L2 Hit|DRAM Throughput|Elapsed Cycles|SM Frequency" /tmp/o/ncu-lean.txt | head -12
ncu -i /tmp/o/lean.ncu-rep --page source --csv --print-source sass > /tmp/o/ncu-lean-sass.csv 2>/dev/null; gzip -9 /tmp/o/ncu-lean-sass.csv
echo "=== elapsed ${SECONDS}s"
