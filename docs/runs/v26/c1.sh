#!/bin/bash
# session 19, call 1 (1 GPU): R = branch ra2 (refill hook on every producer thread; main bcf1c49 + 1 commit).
# ws suites + reliability on ws; A/B timing R vs R (noise); ncu source counters of ungated 16384/32 and SwiGLU 16384/32 on R.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
trap 'cp /tmp/o/*.csv.gz /tmp/o/*.txt $OUT/ 2>/dev/null; tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/R/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-300 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1 | tr -dc 'A-Z01' | tail -c 12).log; }
t X=1 test-test-ws_forward "" 90
t "FLASHMOE_TEST_MAINLOOP=ws" test-test-moe_single_gpu "" 150
t "FLASHMOE_TEST_MAINLOOP=ws" test-test-moe_reliability "" 120
t X=1 test-test-ws_tile "" 60
B=/tmp/p/R/bin-bin-flashmoe
S="--section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats --section SourceCounters"
i=0; for cfg in "--tokens 16384 --experts 32" "--tokens 16384 --experts 32 --gated --activation silu"; do i=$((i+1))
  timeout -k 2 150 ncu --clock-control none $S --import-source no -k regex:moe_forward -s 2 -c 1 -o /tmp/o/f$i $B run --gpus 1 $cfg --verify-tokens 1 --iters 3 > /tmp/o/ncu-f$i.log 2>&1; echo "ncu [$cfg] rc=$? at ${SECONDS}s"
  ncu -i /tmp/o/f$i.ncu-rep --page details > /tmp/o/ncu-f$i.txt 2>&1; grep -E "Duration|Tensor|L2 Hit|DRAM Through|Warp Cycles Per Issued|SM Frequency" /tmp/o/ncu-f$i.txt | head -10
  ncu -i /tmp/o/f$i.ncu-rep --page source --csv --print-source sass > /tmp/o/ncu-f$i-sass.csv 2>/dev/null; gzip -9 /tmp/o/ncu-f$i-sass.csv; rm /tmp/o/f$i.ncu-rep
done
echo "=== elapsed ${SECONDS}s"
