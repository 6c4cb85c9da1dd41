#!/bin/bash
# session 19, call 7 (nvidia-h200-x2): W = branch ws-multi (Mainloop::Auto takes the ws engine on several GPUs too):
# moe_multi_gpu and moe_reliability under the new default; 2-GPU layers, Auto (now ws) vs --mainloop wgmma, alternating.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c7.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/W/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-300 | head -10; }
t X=1 test-test-moe_multi_gpu "" 150
t X=1 test-test-moe_reliability "" 120
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 8192 --experts 32" "--tokens 16384 --experts 32" "--tokens 8192 --experts 32 --gated --activation silu" "--tokens 4096 --experts 64"; do
  line="[$cfg]"; for rep in 1 2; do for a in auto wgmma; do
    timeout -k 2 90 /tmp/p/W/bin-bin-flashmoe run --gpus 2 $cfg --mainloop $a --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line $a:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
grep -E "set-up" /tmp/r.log | head -2
echo "=== elapsed ${SECONDS}s"
