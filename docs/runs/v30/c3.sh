#!/bin/bash
# Session 23, call 3 (1 GPU). Branch pair-probe: why cluster pairs ran the standalone tile at 445
# vs 767 TFLOP/s (c1, c2). Modes of ws256_pair*: 1 multicast halves + remote release (c2);
# 2 lockstep with each block loading its full B locally (remote release kept);
# 3 multicast without remote release (racy: timing only); 4 multicast, remote release with
# .release.cta (CUTLASS's form); 5 cluster launch + pair tile order, local full B, no release.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
timeout -k 2 120 /tmp/p/P/test-test-ws_tile --include-ignored --nocapture the_128x256_tile_throughput 2>&1 | grep -E "TFLOP|clusters"
timeout -k 2 120 /tmp/p/P/test-test-ws_tile --include-ignored --nocapture the_128x256_tile_throughput 2>&1 | grep -E "TFLOP" | grep "32 weight"
echo "=== elapsed ${SECONDS}s"
