#!/bin/bash
# session 16, call 6 (1 GPU): L2 = branch l2-256 (cp.async with .L2::256B: L2 fetches the next K tile's 128 bytes of each
# row with this one's), M2 = main 2901e5b. Standalone tile, then the fused layer at prefill and decode sizes; GD if packed.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
V=$(ls /tmp/p | tr '\n' ' '); echo "variants: $V"
for rep in 1 2; do for v in M2 L2; do timeout 60 /tmp/p/$v/test-test-ws_tile --include-ignored --test-threads 1 --nocapture throughput 2>&1 | grep -oP "experts? .*TFLOP/s|weight matri.*TFLOP/s" | sed "s/^/$v: /"; done; done
if [ -d /tmp/p/GD ]; then
  t() { local s=$SECONDS; timeout -k 2 ${3:-60} /tmp/p/GD/$1 --include-ignored --test-threads=1 --nocapture ${2:-} > /tmp/t.log 2>&1; echo "=== GD $1 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-200 | head -10; cp /tmp/t.log /tmp/o/GD-$1.log; }
  t test-test-moe_single_gpu "" 150; t test-test-forward_graph "" 90
fi
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
DV=$(echo $V | tr ' ' '\n' | grep -v MN | tr '\n' ' ')
for cfg in "--tokens 1 --experts 8 --hidden 256 --inter 256" "--tokens 1 --experts 8" "--tokens 4 --experts 64" "--tokens 128 --experts 64" "$X --tokens 1"; do
  line="[$cfg]"; for rep in 1 2; do for v in $DV; do
    timeout -k 2 60 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== decode A/B done at ${SECONDS}s"
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 4096 --experts 128" "$X --tokens 4096"; do
  line="[$cfg]"; for rep in 1 2; do for v in M2 L2; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
