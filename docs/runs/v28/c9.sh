#!/bin/bash
# v28 c9 (1 GPU): main dcc2faa (GEMM1 runs from 1 MB panels). v25's own-rows choice again, now
# that more has changed around it: streamed (default) vs gathered (--no-stream-rows) vs copied in
# the dispatch (--no-stream-rows --copy-local), at the layers whose readers take few slices by TMA.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c9.tar.xz -C /tmp/p
B=/tmp/p/M/bin-bin-flashmoe
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 8192 --experts 64" "--tokens 16384 --experts 64" "--tokens 16384 --experts 128" "--tokens 8192 --experts 32" "--tokens 16384 --experts 32" "--tokens 8192 --experts 64 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in "--stream-rows" "--no-stream-rows" "--no-stream-rows --copy-local"; do
    timeout -k 2 90 $B run --gpus 1 $cfg $v --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $(echo ${v#--} | tr ' ' '_'):$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
