#!/bin/bash
# v37 c10 (1 GPU). L = main's kernels (c9). The sm_80 build (JIT on the H200): its sweep entry
# (launch bounds for two blocks an SM) through lean_forward by default and with the sweep forced,
# and moe_reliability with the sweep forced.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c10.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
export FLASHMOE_TEST_ARCH=sm_80
t L X=1 test-test-lean_forward
t L FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
grep -m3 "sm_80" /tmp/o/t-L-test-test-lean_forward-FLASHMOE_TEST_LEAN_SWEEP.log | cut -c1-160
t L FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_reliability
echo "=== elapsed ${SECONDS}s"
