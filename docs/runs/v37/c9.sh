#!/bin/bash
# v37 c9 (1 GPU). B2 = main (c8), L = each forward's launch (engine, lean launch, grid,
# cooperation) worked out once (MoeLayer::launch_of) instead of up to five lean_launch_of calls.
# The tiny layer's host time alternating B2 / L; L's suites by default and with the sweep forced.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c9.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
for v in B2 L B2 L; do t $v X=1 test-test-forward_graph; grep -iE "  (forward_device|graph replay)" /tmp/o/t-$v-test-test-forward_graph-X.log | cut -c1-100; done
t L X=1 test-test-lean_forward
t L FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t L FLASHMOE_TEST_LEAN_SWEEP=1 test-test-forward_graph
t L FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_reliability
t L X=1 test-test-ws_forward
t L X=1 test-test-moe_single_gpu 200
echo "=== elapsed ${SECONDS}s"
