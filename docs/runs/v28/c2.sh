#!/bin/bash
# v28 c2 (1 GPU): P = main 4d76137 (engine-per-forward merged; its code is fbb1881), G = branch gate-deep (the ws gate's
# logits tile on the 4-stage decode ring). G's suites; P/G A/B with timelines of the prologue;
# then P's single-GPU sweep (now with T = 8192) beside cuBLAS ideal, grouped_mm and PyTorch.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
trap 'cp /tmp/p/bench/*.csv /tmp/p/bench/*.png $OUT/ 2>/dev/null; cp /tmp/o/*.log $OUT/ 2>/dev/null' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-300 | head -8; }
t G X=1 test-test-ws_forward
t G FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in P G; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
for cfg in "--tokens 16384 --experts 32" "--tokens 4096 --experts 128"; do for v in P G; do
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 5 --timeline > /tmp/r.log 2>&1; echo "--- $v timeline [$cfg] $(med)"; sed -n '/timeline of/,$p' /tmp/r.log | sed -n '2,12p'; done; done
echo "=== A/B done at ${SECONDS}s"
export FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py
left=$((575 - SECONDS)); mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 $left /tmp/p/P/bin-bin-flashmoe bench --sweeps single > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -vE "^\s*$|^flashmoe T=" /tmp/o/bench.log | tail -32
echo "=== elapsed ${SECONDS}s"
