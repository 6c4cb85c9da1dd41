#!/bin/bash
# v27 c3 (1 GPU): G = gated W3 partners loaded inside `value` (no spill), B = smem bias (spills);
# suites of G, then A/B/C against main (M2).
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c3.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-120} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-300 | head -8; }
t G FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t G X=1 test-test-ws_forward
timeout 150 python3 benches/hf_conformance.py --out /tmp/hfc > /tmp/hfc.log 2>&1; echo "hf_conformance.py rc=$?"
t G FLASHMOE_HF_CONFORMANCE=/tmp/hfc test-test-hf_layers
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0 --tokens 4096"
for cfg in "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 16384 --experts 32 --gated --activation silu --bias" "--tokens 8192 --experts 64 --gated --activation gelu" "--tokens 8192 --experts 64 --gated --activation gelu --bias" "$X"; do
  line="[$cfg]"; for rep in 1 2; do for v in M2 G B; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
