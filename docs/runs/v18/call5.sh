#!/bin/bash
# session 11, call 5 (1 GPU): emit-vec (V: 128-thread vector epilogue + engine rule at 128 rows) against main (N: call 4's build) - suites, A/B, then the bench with every baseline
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/b.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
pip install --no-deps --no-index --target /tmp/lk .whl/liger_kernel-0.8.5-py3-none-any.whl > /tmp/o/pip.log 2>&1; echo "liger pip rc=$?"
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} /tmp/p/V/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL|TFLOP" /tmp/t.log | cut -c1-220 | head -8; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-moe_single_gpu "" 120
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu "" 120
t X=1 test-test-moe_reliability "" 150
t X=1 test-test-forward_graph "" 90
t X=1 test-test-gemm_tile "" 60
t X=1 test-test-moe_shared_expert "" 90
t X=1 test-test-hf_layers "" 120
med() { grep -oP "forward: median \K[0-9.]+ ms \(min [0-9.]+\)" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"; X="--hidden 4096 --inter 14336 --experts 8"
i=0
for cfg in "--tokens 4096 --experts 128" "--tokens 1024 --experts 32" "--tokens 128 --experts 64" "--tokens 1024 --experts 128" "$G $X --tokens 1" "$G $X --tokens 32" "--tokens 1 --experts 8 --hidden 256 --inter 256"; do for rep in 1 2; do for v in N V; do i=$((i+1))
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] $v: rc=$? $(med) $(grep -c PASS /tmp/r.log)pass"; cp /tmp/r.log /tmp/o/run-$i-$v.log; done; done; done
echo "=== A/B done at ${SECONDS}s"
export PYTHONPATH=/tmp/lk FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py
timeout -k 5 400 /tmp/p/V/bin-bin-flashmoe bench --sweeps single,gated > /tmp/o/bench.log 2>&1; echo "bench rc=$? at ${SECONDS}s"
grep -vE "^\s*$|^flashmoe T=" /tmp/o/bench.log | tail -30
echo "=== elapsed ${SECONDS}s"
