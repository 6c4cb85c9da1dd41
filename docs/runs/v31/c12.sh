#!/bin/bash
# Session 24, call 12 (1 GPU). Main (task clock, power report) built with FLASHMOE_SANITIZE=1: compute-sanitizer on
# a small ws forward with --timeline (the task clock of v31 runs only then), memcheck,
# synccheck and racecheck.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c12.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
B=/tmp/p/SAN/bin-bin-flashmoe
cfg="--hidden 256 --inter 1024 --experts 4 --tokens 512 --gated --activation silu"
for tool in memcheck synccheck racecheck; do
  timeout -k 2 50 compute-sanitizer --tool $tool $B run --gpus 1 --mainloop ws --max-blocks 4 $cfg --timeout-ms 120000 --verify-tokens 4 --iters 1 --timeline > /tmp/o/s-$tool.log 2>&1
  echo "=== $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass $(grep -c "per GEMM1 task" /tmp/o/s-$tool.log) timeline"
  grep -E "Race reported|Error:" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
done
echo "=== elapsed ${SECONDS}s"
