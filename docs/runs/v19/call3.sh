#!/bin/bash
# session 12, call 3 (1 GPU): cluster probe v3 (convergent cluster barrier); ncu of the standalone ws tile (32 experts) vs the fused kernel, same sections
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/b.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
C=/tmp/p/C
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $C/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL|TFLOP|cooperative|status|hung|ran:" /tmp/t.log | cut -c1-220 | head -12; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-cluster_probe a_box_multicast 30
t X=1 test-test-cluster_probe a_cooperative 30
S="--section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats --section SchedulerStats --section SourceCounters"
for sk in 50 73; do
  timeout -k 2 120 ncu --clock-control none $S --import-source no -k regex:ws256 -s $sk -c 1 -o /tmp/o/tile$sk $C/test-test-ws_tile --include-ignored --test-threads=1 --nocapture the_128x256_tile_throughput > /tmp/o/ncu-tile$sk.log 2>&1; echo "ncu tile $sk rc=$? at ${SECONDS}s"
  ncu -i /tmp/o/tile$sk.ncu-rep --page details > /tmp/o/ncu-tile$sk.txt 2>&1; grep -E "Duration|Tensor is|L2 Hit|DRAM Through|Warp Cycles Per Issued|L1/TEX Hit|Mem Busy|Max Bandwidth" /tmp/o/ncu-tile$sk.txt | head -12
  ncu -i /tmp/o/tile$sk.ncu-rep --page source --csv --print-source sass > /tmp/o/ncu-tile$sk-sass.csv 2>/dev/null; gzip -9 /tmp/o/ncu-tile$sk-sass.csv; rm /tmp/o/tile$sk.ncu-rep
done
timeout -k 2 150 ncu --clock-control none $S --import-source no -k regex:moe_forward -s 2 -c 1 -o /tmp/o/f16k $C/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 1 --iters 3 > /tmp/o/ncu-f16k.log 2>&1; echo "ncu fused rc=$? at ${SECONDS}s"
ncu -i /tmp/o/f16k.ncu-rep --page details > /tmp/o/ncu-f16k.txt 2>&1; grep -E "Duration|Tensor is|L2 Hit|DRAM Through|Warp Cycles Per Issued|L1/TEX Hit|Mem Busy|Max Bandwidth" /tmp/o/ncu-f16k.txt | head -12
ncu -i /tmp/o/f16k.ncu-rep --page source --csv --print-source sass > /tmp/o/ncu-f16k-sass.csv 2>/dev/null; gzip -9 /tmp/o/ncu-f16k-sass.csv; rm /tmp/o/f16k.ncu-rep
echo "=== elapsed ${SECONDS}s"
