#!/bin/bash
# session 14, call 4 (1 GPU): main 6aa4b5d (M2) - `flashmoe bench --sweeps decode` beside the PyTorch layer (issue 11's
# figures, last measured in v15): kernel, host-inclusive and graph-replayed time, weight bandwidth.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/n.tar.xz -C /tmp/p
trap 'cp -r /tmp/p/bench /tmp/o/ 2>/dev/null; tar czf $OUT/logs.tgz -C /tmp o' EXIT
V=/tmp/p/M2
export FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py
mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 420 $V/bin-bin-flashmoe bench --sweeps decode > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -vE "^\s*$" /tmp/o/bench.log | tail -45
echo "=== elapsed ${SECONDS}s"
