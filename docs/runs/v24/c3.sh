#!/bin/bash
# session 17, call 3 (1 GPU): same GT binary as call 2 (main 4816388). With own rows copied, fewer dispatch blocks let
# the others start GEMM0 on the first dispatched tiles while the copy runs: --dispatch-blocks A/B.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
B=/tmp/p/GT/bin-bin-flashmoe
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
ab() { local cfg=$1; shift; line="[$cfg]"; for rep in 1 2; do for a in "$@"; do aa=${a//_/ }
    timeout -k 2 90 $B run --gpus 1 $cfg $aa --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line ${a}:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; }
ab "--tokens 16384 --experts 32 --gated --activation silu" def --dispatch-blocks_16 --dispatch-blocks_32 --dispatch-blocks_64
ab "--tokens 16384 --experts 32" def --copy-local --copy-local_--dispatch-blocks_32 --copy-local_--dispatch-blocks_64
ab "--tokens 8192 --experts 64 --gated --activation silu" def --dispatch-blocks_32 --dispatch-blocks_64
ab "--tokens 8192 --experts 64" def --copy-local_--dispatch-blocks_32 --copy-local_--dispatch-blocks_64
ab "$X --tokens 4096" def --dispatch-blocks_16 --dispatch-blocks_32
echo "=== A/B done at ${SECONDS}s"
i=0; for cfg in "--tokens 16384 --experts 32 --gated --activation silu --dispatch-blocks 32" "--tokens 16384 --experts 32 --copy-local --dispatch-blocks 32"; do i=$((i+1))
  timeout -k 2 90 $B run --gpus 1 $cfg --verify-tokens 1 --iters 5 --timeline > /tmp/o/tl$i.log 2>&1; echo "--- timeline [$cfg]"; grep -E "forward:|PASS|FAIL" /tmp/o/tl$i.log | cut -c1-80; sed -n '/timeline of/,$p' /tmp/o/tl$i.log | head -40; done
echo "=== elapsed ${SECONDS}s"
