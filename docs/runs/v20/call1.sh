#!/bin/bash
# next session, call 1 (1 GPU): branch epi-compact (K, e32e003 = main 464afd5 + the compact epilogue) against main's unrolled epilogue (U, 9a4d32b);
# K's ws suites and the capped grid (Tuning::max_blocks, never GPU-run); then compute-sanitizer on ws with --max-blocks 4.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/next.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
K=/tmp/p/K; B=$K/bin-bin-flashmoe
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $K/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL|TFLOP|blocks:" /tmp/t.log | cut -c1-200 | head -8; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-ws_tile "" 60
t X=1 test-test-ws_forward "" 60
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu "" 150
t X=1 test-test-moe_single_gpu a_capped_grid 60
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-forward_graph "" 90
med() { grep -oP "forward: median \K[0-9.]+ ms \(min [0-9.]+\)" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"; X="--hidden 4096 --inter 14336 --experts 8"
i=0
for cfg in "--tokens 16384 --experts 32" "--tokens 16384 --experts 32 --bias" "$G --tokens 16384 --experts 32" "--tokens 8192 --experts 64" "$G --tokens 8192 --experts 64" "--tokens 4096 --experts 64" "--tokens 2048 --experts 32" "$G $X --tokens 4096"; do for rep in 1 2; do for v in U K; do i=$((i+1))
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] $v: rc=$? $(med) $(grep -c PASS /tmp/r.log)pass"; cp /tmp/r.log /tmp/o/run-$i-$v.log; done; done; done
echo "=== A/B done at ${SECONDS}s"
for tool in synccheck memcheck racecheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool --print-limit 5 $B run --gpus 1 --tokens 300 --experts 8 --hidden 256 --inter 256 --gated --bias --mainloop ws --max-blocks 4 --iters 1 --verify-tokens 4 > /tmp/o/san-ws-$tool.log 2>&1; echo "$tool ws 4 blocks rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|PASS' /tmp/o/san-ws-$tool.log | tr '\n' ' ') at ${SECONDS}s"; done
S="--section SpeedOfLight --section WarpStateStats --section SourceCounters"
timeout -k 2 150 ncu --clock-control none $S --import-source no -k regex:moe_forward -s 2 -c 1 -o /tmp/o/k16k $B run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 1 --iters 3 > /tmp/o/ncu-k16k.log 2>&1; echo "ncu K rc=$? at ${SECONDS}s"
ncu -i /tmp/o/k16k.ncu-rep --page details 2>&1 | grep -E "Duration|Tensor is|Warp Cycles Per Issued" | head -4
ncu -i /tmp/o/k16k.ncu-rep --page source --csv --print-source sass > /tmp/o/ncu-k16k-sass.csv 2>/dev/null; gzip -9 /tmp/o/ncu-k16k-sass.csv; rm -f /tmp/o/k16k.ncu-rep
echo "=== elapsed ${SECONDS}s"
