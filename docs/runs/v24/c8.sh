#!/bin/bash
# session 17, call 8 (1 GPU): call 7's racecheck of the I = 8192 layer (GEMM1 runs) timed out at the kernel's 5 s wait
# bound under the tool; again with a 120 s bound.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c7.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
B=/tmp/p/SAN/bin-bin-flashmoe
timeout -k 2 240 compute-sanitizer --tool racecheck $B run --gpus 1 --mainloop ws --max-blocks 4 --hidden 256 --inter 8192 --experts 4 --tokens 512 --gated --activation silu --timeout-ms 120000 --verify-tokens 4 --iters 1 > /tmp/o/r.log 2>&1
echo "=== racecheck rc=$? at ${SECONDS}s"; grep -vE "^\s*$" /tmp/o/r.log | grep -E "Race|Error|SUMMARY|verify|error" | sort | uniq -c | head
