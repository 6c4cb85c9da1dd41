#!/bin/bash
# session 16, call 7 (nvidia-h200-x2): main 71fdfc5 (route-items + gate-dots merged). Every suite (multi-GPU on 2), HF
# conformance against transformers, then the decode sweep beside PyTorch (CSV + PNG).
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c7.tar.xz -C /tmp/p
trap 'cp /tmp/p/bench/*.csv /tmp/p/bench/*.png $OUT/ 2>/dev/null; tar czf $OUT/logs.tgz -C /tmp o' EXIT
nvidia-smi -L
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/FN/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-200 | head -10; cp /tmp/t.log /tmp/o/$2.log; }
t X=1 test-test-moe_single_gpu "" 120
t X=1 test-test-moe_reliability "" 90
t X=1 test-test-forward_graph "" 90
t X=1 test-test-moe_shared_expert "" 90
t X=1 test-test-moe_multi_gpu "" 120
timeout 150 python3 benches/hf_conformance.py --out /tmp/hfc > /tmp/o/hfc.log 2>&1; echo "hf_conformance.py rc=$? at ${SECONDS}s"; tail -2 /tmp/o/hfc.log
t FLASHMOE_HF_CONFORMANCE=/tmp/hfc test-test-hf_layers "" 150
export FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py
mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 240 /tmp/p/FN/bin-bin-flashmoe bench --sweeps decode > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -E "^ +[0-9]+ +[0-9]+ +[0-9]+|Mixtral" /tmp/o/bench.log | head -24
echo "=== elapsed ${SECONDS}s"
