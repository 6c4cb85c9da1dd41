#!/bin/bash
# session 12, call 4 (1 GPU): gathered-row L2 prefetch (P) against ws-sync (C), same call: standalone tile, ws suite, fused layers
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/b.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
for rep in 1 2; do for v in C P; do
  timeout -k 2 60 /tmp/p/$v/test-test-ws_tile --include-ignored --test-threads=1 --nocapture > /tmp/t.log 2>&1; echo "tile $v rc=$? $(grep 'test result' /tmp/t.log)"; grep TFLOP /tmp/t.log | sed 's/.*bf16, //' ; cp /tmp/t.log /tmp/o/tile-$v-$rep.log; done; done
timeout -k 2 150 env FLASHMOE_TEST_MAINLOOP=ws /tmp/p/P/test-test-moe_single_gpu --include-ignored --test-threads=1 > /tmp/o/single-ws-P.log 2>&1; echo "single ws P rc=$? $(grep 'test result' /tmp/o/single-ws-P.log)"
med() { grep -oP "forward: median \K[0-9.]+ ms \(min [0-9.]+\)" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"; X="--hidden 4096 --inter 14336 --experts 8"
i=0
for cfg in "--tokens 16384 --experts 32" "$G --tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 4096 --experts 64" "$G $X --tokens 4096"; do for rep in 1 2; do for v in C P; do i=$((i+1))
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] $v: rc=$? $(med) $(grep -c PASS /tmp/r.log)pass"; cp /tmp/r.log /tmp/o/run-$i-$v.log; done; done; done
echo "=== elapsed ${SECONDS}s"
