#!/bin/bash
# v34 c12 (1 GPU). S3 = the final lean kernel (items and gate specialized, c10/c11): the suites
# c11 did not run on it (lean_forward on sm_80, moe_single_gpu with lean forced, reliability,
# ws_forward) and compute-sanitizer memcheck, racecheck, synccheck at T = 1, 2 and 3.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c12.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -8; }
t S3 FLASHMOE_TEST_ARCH=sm_80 test-test-lean_forward
t S3 FLASHMOE_TEST_LEAN=1 test-test-moe_single_gpu
t S3 X=1 test-test-moe_reliability
t S3 X=1 test-test-ws_forward
for tokens in 1 2 3; do for tool in memcheck racecheck synccheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool /tmp/p/S3SAN/bin-bin-flashmoe run --gpus 1 --lean --tokens $tokens --hidden 256 --inter 320 --experts 12 --gated --bias --activation silu --timeout-ms 120000 --verify-tokens $tokens --iters 2 > /tmp/o/s-$tool.log 2>&1
  echo "=== S3SAN T=$tokens $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Error:|Race reported" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -3
done; done
echo "=== elapsed ${SECONDS}s"
