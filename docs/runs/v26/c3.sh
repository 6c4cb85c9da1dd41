#!/bin/bash
# session 19, call 3 (1 GPU): E1 = branch epi-warp (ws epilogue: each warp turns around its own 16 rows, warp barriers
# between passes, one warpgroup barrier per task). E1's ws suites; A/B M (main 2edf4c5) vs E1; ncu source counters of E1 at 16384/32.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
trap 'cp /tmp/o/*.csv.gz /tmp/o/*.txt $OUT/ 2>/dev/null; tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/E1/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|TFLOP" /tmp/t.log | cut -c1-300 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1 | tr -dc 'A-Z01' | tail -c 12).log; }
t X=1 test-test-ws_tile "" 60
t X=1 test-test-ws_forward "" 90
t "FLASHMOE_TEST_MAINLOOP=ws" test-test-moe_single_gpu "" 150
t "FLASHMOE_TEST_MAINLOOP=ws" test-test-moe_reliability "" 120
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0 --tokens 4096"
for cfg in "--tokens 16384 --experts 32" "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 8192 --experts 64" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32 --bias" "$X"; do
  it=30; [ "$cfg" = "$X" ] && it=15
  line="[$cfg]"; for rep in 1 2; do for v in M E1; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 2 --iters $it > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== A/B done at ${SECONDS}s"
S="--section SpeedOfLight --section WarpStateStats --section SourceCounters"
timeout -k 2 150 ncu --clock-control none $S --import-source no -k regex:moe_forward -s 2 -c 1 -o /tmp/o/e1 /tmp/p/E1/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 1 --iters 3 > /tmp/o/ncu-e1.log 2>&1; echo "ncu rc=$? at ${SECONDS}s"
ncu -i /tmp/o/e1.ncu-rep --page details > /tmp/o/ncu-e1.txt 2>&1; grep -E "Duration|Compute \(SM\)|Warp Cycles Per Issued" /tmp/o/ncu-e1.txt | head -5
ncu -i /tmp/o/e1.ncu-rep --page source --csv --print-source sass > /tmp/o/ncu-e1-sass.csv 2>/dev/null; gzip -9 /tmp/o/ncu-e1-sass.csv; rm /tmp/o/e1.ncu-rep
echo "=== elapsed ${SECONDS}s"
