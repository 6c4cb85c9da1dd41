#!/bin/bash
# session 17, call 5 (nvidia-h200-x2): main 49038b4 (GEMM0 by TMA from copied rows, GEMM1 runs). Every suite, the ws
# engine's with copied rows forced, multi-GPU on 2 GPUs on both engines (peers' rows now by TMA on ws), HF conformance.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
nvidia-smi -L
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/FN/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-200 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1 | tr -dc 'A-Z01' | tail -c 12).log; }
t X=1 test-test-moe_single_gpu "" 120
t "FLASHMOE_TEST_MAINLOOP=ws FLASHMOE_TEST_COPY_LOCAL=1" test-test-moe_single_gpu "" 120
t X=1 test-test-moe_reliability "" 90
t X=1 test-test-forward_graph "" 90
t X=1 test-test-moe_shared_expert "" 90
t X=1 test-test-ws_forward "" 60
t X=1 test-test-gemm_tile "" 60
t X=1 test-test-moe_multi_gpu "" 120
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_multi_gpu "" 120
timeout 150 python3 benches/hf_conformance.py --out /tmp/hfc > /tmp/o/hfc.log 2>&1; echo "hf_conformance.py rc=$? at ${SECONDS}s"; tail -2 /tmp/o/hfc.log
t FLASHMOE_HF_CONFORMANCE=/tmp/hfc test-test-hf_layers "" 150
B=/tmp/p/FN/bin-bin-flashmoe
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--gpus 2 --tokens 8192 --experts 32 --mainloop ws" "--gpus 2 --tokens 8192 --experts 32 --gated --activation silu --mainloop ws" "--gpus 2 --tokens 8192 --experts 32"; do
  timeout -k 2 90 $B run $cfg --verify-tokens 4 --iters 20 > /tmp/r.log 2>&1; echo "[$cfg] $(med) $(grep -cE 'PASS' /tmp/r.log) pass"; done
echo "=== elapsed ${SECONDS}s"
