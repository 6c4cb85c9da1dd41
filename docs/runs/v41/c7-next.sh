#!/bin/bash
# v41 c7 (NOT RUN: no device time was left). For the next session: `git apply docs/runs/v41/epi-tma.patch`
# (branch epi-tma of session 36), then build
#   T  = default (waits for its boxes' writes before the release, as c6),
#   TN = FLASHMOE_PROBE_EPI_NOWAIT=1 (timing probe: releases without waiting for the writes),
#   TD = FLASHMOE_EPI_DEFER=1 (the release deferred to the next epilogue; 8 spill bytes),
# pack each CLI (docs/runs/v32/pack.sh; TD also ws_forward, moe_single_gpu, moe_reliability),
# and run beside main (MC). Predicted: TN and TD -3 to -8% at 16384/32 if the write wait is
# most of c6's 4.3 us epilogue; TD's hashes equal main's.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c7.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 60 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; }
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-100} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t.log | cut -c1-300 | head -10; }
L="--hidden 2048 --inter 2048"
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  echo -n "[$cfg]"; for i in 1 2; do r MC "$cfg"; r T "$cfg"; r TN "$cfg"; r TD "$cfg"; done; echo; done
for b in TN TD; do
timeout -k 2 60 /tmp/p/$b/bin-bin-flashmoe run --gpus 1 --tokens 16384 $L --experts 32 --verify-tokens 2 --iters 10 --timeline > /tmp/r.log 2>&1
echo "--- $b 16384/32 timeline $(med)"; grep -E "per GEMM|exit" /tmp/r.log | tr -s ' '
done
t TD X=1 test-test-ws_forward
t TD FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu 120
t TD FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability 80
echo "=== elapsed ${SECONDS}s"
