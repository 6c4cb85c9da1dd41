#!/bin/bash
# session 19, call 2 (1 GPU): L2 eviction hints, same call, alternating. M = main 2edf4c5; S1 = GEMM1 outputs stored
# evict_first; S12 = S1 + A boxes evict_last; S12W = S12 + weight boxes evict_first. Then ncu memory of 16384/32 and Mixtral for M and the best.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
trap 'cp /tmp/o/*.txt $OUT/ 2>/dev/null; tar czf $OUT/logs.tgz -C /tmp o' EXIT
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0 --tokens 4096"
for cfg in "--tokens 16384 --experts 32" "--tokens 16384 --experts 32 --gated --activation silu" "$X"; do
  it=30; [ "$cfg" = "$X" ] && it=15
  line="[$cfg]"; for rep in 1 2; do for v in M S1 S12 S12W; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 2 --iters $it > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== A/B done at ${SECONDS}s"
S="--section SpeedOfLight --section MemoryWorkloadAnalysis"
for v in M S12; do i=0; for cfg in "--tokens 16384 --experts 32" "$X"; do i=$((i+1))
  timeout -k 2 120 ncu --clock-control none $S --metrics dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct -k regex:moe_forward -s 2 -c 1 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 3 > /tmp/o/ncu-$v-$i.txt 2>&1
  echo "ncu $v [$i] $(grep -E '^\s+(Duration|DRAM Throughput|L2 Hit Rate|L2 Cache Throughput|dram__bytes_read.sum|dram__bytes_write.sum)\s' /tmp/o/ncu-$v-$i.txt | awk '{print $1,$(NF-1),$NF}' | tr '\n' ';')"
done; done
echo "=== elapsed ${SECONDS}s"
