#!/bin/bash
# v40 c6 (1 GPU). The decode sweep (`bench --sweeps decode`, PyTorch in the same run) on main
# 806b9a7 (F): the sweep's 256-byte tile loads and the new lean_sweep rule.
set -u
mkdir -p /tmp/p && tar xJf .gpuws/c6.tar.xz -C /tmp/p
timeout -k 5 200 /tmp/p/F/bin-bin-flashmoe bench --sweeps decode > $OUT/bench-decode.log 2>&1; echo "decode rc=$? at ${SECONDS}s"
grep -A24 "^tokens" $OUT/bench-decode.log
