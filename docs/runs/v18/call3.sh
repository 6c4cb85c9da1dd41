#!/bin/bash
# session 11, call 3 (1 GPU): L2 prefetch of the ws producer's weights, --l2-prefetch 0/2/4/8, same binary (P); E = call 2's epilogue build
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/b.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} /tmp/p/P/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL|TFLOP" /tmp/t.log | cut -c1-220 | head -8; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu "" 120
med() { grep -oP "forward: median \K[0-9.]+ ms \(min [0-9.]+\)" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"; X="--hidden 4096 --inter 14336 --experts 8"
i=0
for cfg in "--tokens 16384 --experts 32" "$G --tokens 16384 --experts 32" "--tokens 8192 --experts 64" "$G $X --tokens 4096"; do for rep in 1 2; do for v in 0 2 4 8; do i=$((i+1))
  timeout -k 2 90 /tmp/p/P/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 --l2-prefetch $v > /tmp/r.log 2>&1; echo "[$cfg] pf $v: rc=$? $(med) $(grep -c PASS /tmp/r.log)pass"; cp /tmp/r.log /tmp/o/run-$i-$v.log; done; done; done
echo "=== A/B done at ${SECONDS}s"
S="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SourceCounters"
timeout -k 2 200 ncu --clock-control none $S --import-source no -k regex:moe_forward -s 2 -c 1 -o /tmp/o/p16k /tmp/p/P/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 1 --iters 3 > /tmp/o/ncu-run.log 2>&1; echo "ncu rc=$? at ${SECONDS}s"
ncu -i /tmp/o/p16k.ncu-rep --page details > /tmp/o/ncu-details.txt 2>&1; grep -E "Duration|L2 Hit|DRAM Through|L2 Cache Through|Warp Cycles Per Issued" /tmp/o/ncu-details.txt | head
ncu -i /tmp/o/p16k.ncu-rep --page source --csv --print-source sass > /tmp/o/ncu-sass.csv 2>/dev/null; gzip -9 /tmp/o/ncu-sass.csv; mv /tmp/o/p16k.ncu-rep /tmp/
echo "=== elapsed ${SECONDS}s"
