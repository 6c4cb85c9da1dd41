#!/bin/bash
# v43 c2: did the pairs' multicast halve B's L2 reads? ncu (SOL + memory workload) of one
# forward at 16384/32 on main (MC) and on the pairs patch (PR, paired), then PR without clusters.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
L="--tokens 16384 --hidden 2048 --inter 2048 --experts 32"
for v in "MC " "PR " "PR --no-cluster-pairs"; do
  set -- $v
  timeout -k 2 150 ncu --clock-control none --section SpeedOfLight --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables -k regex:moe_forward -s 2 -c 1 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $L ${2:-} --verify-tokens 1 --iters 3 > /tmp/o/n.log 2>&1
  echo "=== $v rc=$? at ${SECONDS}s"
  grep -E "Duration|Throughput|Hit Rate|Mem Busy|Max Bandwidth|L1/TEX Hit|Mem Pipes" /tmp/o/n.log | head -20
  grep -E "^ *(L2|L1|Shared|DRAM|TEX|lts|Global|Local)" /tmp/o/n.log | head -30
done
