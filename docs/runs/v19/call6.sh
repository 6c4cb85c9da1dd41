#!/bin/bash
# session 12, call 6 (x2): main after v19 - ws multi-GPU suite, cluster probe, then `flashmoe bench --sweeps single,gated` beside every baseline (cuBLAS ideal, grouped_mm, PyTorch, Liger)
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/b.tar.xz -C /tmp/p
trap 'cp -r /tmp/p/bench /tmp/o/ 2>/dev/null; tar czf $OUT/logs.tgz -C /tmp o' EXIT
V=/tmp/p/V
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $V/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL|ran:" /tmp/t.log | cut -c1-200 | head -8; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_multi_gpu "" 90
t X=1 test-test-cluster_probe "" 30
pip install --no-deps --no-index --target /tmp/lk .whl/liger_kernel-0.8.5-py3-none-any.whl > /tmp/o/pip.log 2>&1; echo "liger pip rc=$?"
export PYTHONPATH=/tmp/lk FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py
mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 400 $V/bin-bin-flashmoe bench --sweeps single,gated > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -vE "^\s*$|^flashmoe T=" /tmp/o/bench.log | tail -32
echo "=== elapsed ${SECONDS}s"
