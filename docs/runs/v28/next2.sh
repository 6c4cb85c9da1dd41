#!/bin/bash
# Next session, call 2 (1 GPU), prepared in session 21 (not run): what 8192/64's consumers wait
# for (perf log v28 c3: their `full` wait ~40% of samples against ~22% at 16384/32; a task 31.5 us
# against 26.1). Pack M = main (bash docs/runs/v28/pack.sh M); tar cJf .gpuws/next2.tar.xz -C /tmp/gpuws_p M.
# ncu with source counters, 8192/64: streamed own rows (default) and copied (--no-stream-rows
# --copy-local: every GEMM0 A by TMA). If the consumers' wait falls to ~22% with copies, the
# gathered A is the cause; if not, B's DRAM misses (L2 hit, DRAM bytes printed) are.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/next2.tar.xz -C /tmp/p
trap 'cp /tmp/o/*.csv.gz /tmp/o/*.txt $OUT/ 2>/dev/null' EXIT
B=/tmp/p/M/bin-bin-flashmoe
S="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SourceCounters"
i=0; for v in "" "--no-stream-rows --copy-local"; do i=$((i+1))
  timeout -k 2 150 ncu --clock-control none $S --import-source no -k regex:moe_forward -s 2 -c 1 -o /tmp/o/f$i $B run --gpus 1 --tokens 8192 --experts 64 $v --verify-tokens 1 --iters 3 > /tmp/o/ncu-f$i.log 2>&1; echo "ncu [${v:-streamed}] rc=$? at ${SECONDS}s"
  ncu -i /tmp/o/f$i.ncu-rep --page details > /tmp/o/n28-8k64-$i.txt 2>&1; grep -E "Duration|L2 Hit|DRAM Through|Warp Cycles Per Issued" /tmp/o/n28-8k64-$i.txt | head -6
  ncu -i /tmp/o/f$i.ncu-rep --page raw --csv --metrics dram__bytes_read.sum,lts__t_sector_hit_rate.pct 2>/dev/null | tail -1
  ncu -i /tmp/o/f$i.ncu-rep --page source --csv --print-source sass > /tmp/o/n28-8k64-$i-sass.csv 2>/dev/null; gzip -9 /tmp/o/n28-8k64-$i-sass.csv; rm -f /tmp/o/f$i.ncu-rep
done
echo "=== elapsed ${SECONDS}s"
# Then locally: python3 docs/runs/v28/sass_top.py on the two CSVs (the consumers' try_wait `@P3 BRA`).
