#!/bin/bash
# v41 c6 (1 GPU). T = branch epi-tma: a GEMM0 task of 128 consecutive staging rows leaves its
# epilogue by TMA: bias/activation/gating in registers, bf16 into 1 KiB swizzled boxes (three a
# warp), lane 0 stores each box (map 5) and waits for its writes before the count release.
# Predicted: GEMM0 epilogue 4.4 -> ~1.5 us, forwards -3 to -6% at 16384/32; outputs bitwise
# main's (same hash). Then its suites on ws.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 60 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | head -2 | cut -c1-200; }
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-100} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t.log | cut -c1-300 | head -10; }
L="--hidden 2048 --inter 2048"
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0" "--tokens 2048 --hidden 1024 --inter 320 --experts 8 --gated --bias --activation gelu --capacity-factor 0"; do
  echo -n "[$cfg]"; r MC "$cfg"; r T "$cfg"; r MC "$cfg"; r T "$cfg"; echo; done
timeout -k 2 60 /tmp/p/T/bin-bin-flashmoe run --gpus 1 --tokens 16384 $L --experts 32 --verify-tokens 2 --iters 10 --timeline > /tmp/r.log 2>&1
echo "--- T 16384/32 timeline $(med)"; grep -E "per GEMM|exit" /tmp/r.log | tr -s ' '
echo "=== A/B done ${SECONDS}s"
t T X=1 test-test-ws_forward
t T FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu 120
echo "=== elapsed ${SECONDS}s"
