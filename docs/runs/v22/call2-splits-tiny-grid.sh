#!/bin/bash
# session 15, call 2 (1 GPU), binaries K0 = gemm0-splits c14968d.
# (a) GEMM0 splits 1/2/4 at E = 8, T = 8 and 32 (default takes 4); (b) the tiny layer's kernel
# time against the grid size (--max-blocks), with timelines; (c) the tiny layer's host-time test.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/next.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
K=/tmp/p/K0; B=$K/bin-bin-flashmoe
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 8 --experts 8" "--tokens 32 --experts 8"; do
  line="[$cfg]"; for rep in 1 2; do for v in 1 2 4; do
    timeout -k 2 60 $B run --gpus 1 $cfg --gemm0-splits $v --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line s$v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
TINY="--tokens 1 --experts 8 --hidden 256 --inter 256"
line="[tiny]"; for rep in 1 2; do for mb in 4 8 16 32 66 132 0; do
  v=""; [ $mb = 0 ] || v="--max-blocks $mb"
  timeout -k 2 60 $B run --gpus 1 $TINY $v --verify-tokens 1 --iters 50 > /tmp/r.log 2>&1; line="$line mb$mb:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"
for mb in 0 16; do v=""; [ $mb = 0 ] || v="--max-blocks $mb"
  timeout -k 2 60 $B run --gpus 1 $TINY $v --verify-tokens 1 --iters 5 --timeline > /tmp/o/tl-tiny-$mb.log 2>&1; echo "--- timeline tiny mb$mb"; grep -vE "^\s*$" /tmp/o/tl-tiny-$mb.log | tail -25; done
timeout -k 2 60 $B run --gpus 1 --tokens 128 --experts 64 --verify-tokens 1 --iters 5 --timeline > /tmp/o/tl-128-64.log 2>&1; grep -E "last task end|OS block|processors|first" /tmp/o/tl-128-64.log
timeout -k 2 90 $K/test-test-forward_graph --include-ignored --test-threads=1 --nocapture host_time > /tmp/o/host.log 2>&1; grep -E "^  |test result" /tmp/o/host.log
echo "=== elapsed ${SECONDS}s"
