#!/bin/bash
# session 17, call 2 (1 GPU): GT = gemm0-tma with the heuristic (own rows copied when GEMM0 has >= 4096 output
# columns on ws). Suites, A/B default vs --no-copy-local, timelines and ncu of the Mixtral-size layer.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/GT/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-200 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1 | tr -dc 'A-Z01' | tail -c 12).log; }
t "FLASHMOE_TEST_MAINLOOP=ws FLASHMOE_TEST_COPY_LOCAL=1" test-test-moe_single_gpu "" 150
t X=1 test-test-moe_single_gpu "" 150
t X=1 test-test-moe_reliability "" 120
t X=1 test-test-forward_graph "" 90
t X=1 test-test-ws_forward "" 60
B=/tmp/p/GT/bin-bin-flashmoe
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
for cfg in "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 8192 --experts 64 --gated --activation silu" "--tokens 16384 --experts 32" "$X --tokens 4096"; do
  line="[$cfg]"; for rep in 1 2; do for a in "" "--no-copy-local"; do
    timeout -k 2 90 $B run --gpus 1 $cfg $a --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line ${a:-def}:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== A/B done at ${SECONDS}s"
i=0; for cfg in "$X --tokens 4096" "$X --tokens 4096 --no-copy-local" "--tokens 16384 --experts 32 --gated --activation silu"; do i=$((i+1))
  timeout -k 2 90 $B run --gpus 1 $cfg --verify-tokens 1 --iters 5 --timeline > /tmp/o/tl$i.log 2>&1; echo "--- timeline [$cfg]"; grep -E "forward:|PASS|FAIL" /tmp/o/tl$i.log | cut -c1-80; sed -n '/timeline of/,$p' /tmp/o/tl$i.log | head -40; done
S="--section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats --metrics dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active"
i=0; for cfg in "$X --tokens 4096" "$X --tokens 4096 --no-copy-local"; do i=$((i+1))
  timeout -k 2 150 ncu --clock-control none $S -k regex:moe_forward -s 2 -c 1 -o /tmp/o/n$i $B run --gpus 1 $cfg --verify-tokens 1 --iters 3 > /tmp/o/ncu$i.log 2>&1; echo "=== ncu [$cfg] rc=$? at ${SECONDS}s"
  ncu -i /tmp/o/n$i.ncu-rep --page details > /tmp/o/details$i.txt 2>&1; grep -E "Duration|DRAM Throughput|Memory Throughput|L2 Cache Throughput|dram__bytes|sector_hit|hmma|Warp Cycles Per Issued|Achieved Occupancy|Compute \(SM\) Throughput" /tmp/o/details$i.txt | head -20
done
echo "=== elapsed ${SECONDS}s"
