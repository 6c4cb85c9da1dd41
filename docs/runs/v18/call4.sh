#!/bin/bash
# session 11, call 4 (1 GPU): main after the vector epilogue - engine crossover (ws vs wgmma), then `flashmoe bench --sweeps single,gated` beside cuBLAS ideal, grouped_mm, PyTorch and Liger
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/b.tar.xz -C /tmp/p
trap 'cp -r /tmp/p/bench /tmp/o/ 2>/dev/null; tar czf $OUT/logs.tgz -C /tmp o' EXIT
B=/tmp/p/N/bin-bin-flashmoe
pip install --no-deps --no-index --target /tmp/lk .whl/liger_kernel-0.8.5-py3-none-any.whl > /tmp/o/pip.log 2>&1; echo "liger pip rc=$?"
export PYTHONPATH=/tmp/lk
med() { grep -oP "forward: median \K[0-9.]+ ms \(min [0-9.]+\)" /tmp/r.log; }
i=0
for cfg in "--tokens 4096 --experts 64" "--tokens 4096 --experts 128" "--tokens 16384 --experts 128" "--tokens 2048 --experts 32" "--gated --activation silu --tokens 4096 --experts 64"; do for rep in 1 2; do for v in ws wgmma; do i=$((i+1))
  timeout -k 2 90 $B run --gpus 1 $cfg --verify-tokens 4 --iters 30 --mainloop $v > /tmp/r.log 2>&1; echo "[$cfg] $v: rc=$? $(med) $(grep -c PASS /tmp/r.log)pass"; cp /tmp/r.log /tmp/o/run-$i-$v.log; done; done; done
echo "=== crossover done at ${SECONDS}s"
mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 420 $B bench --sweeps single,gated > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -vE "^\s*$" /tmp/o/bench.log | tail -45
echo "=== elapsed ${SECONDS}s"
