#!/bin/bash
# v34 c15 (1 GPU). S4 = final: `heuristics::lean` from c13/c14 (<= 160 KiB reduced, <= 128 KiB of
# gate); the tests that name its choices (lean_forward, ws_forward), by default.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c15.tar.xz -C /tmp/p
for b in lean_forward ws_forward; do timeout -k 2 120 /tmp/p/S4/test-test-$b --include-ignored --test-threads=1 > /tmp/o/$b.log 2>&1; echo "=== $b rc=$? $(grep 'test result' /tmp/o/$b.log | tail -1)"; grep -E "panick" -A2 /tmp/o/$b.log | head -6; done
echo "=== elapsed ${SECONDS}s"
