#!/bin/bash
# Session 24, call 10 (1 GPU). Under the power cap time follows energy (c8, c9): do the
# data-movement choices the heuristics made at full clock still win sustained? Main (power
# report), 2000 forwards each: default (own rows streamed, GEMM1 runs), --copy-local (rows copied
# by the dispatch), --no-stream-rows (gathered by every GEMM0 task), --no-gemm1-runs.
# Predicted: the ranking of v25/v28 (streamed best by 1-4%) holds, margins within ~2%.
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c10.tar.xz -C /tmp/p
B=/tmp/p/PW/bin-bin-flashmoe
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do for v in "" "--copy-local" "--no-stream-rows" "--no-gemm1-runs" ""; do
  sleep 1; echo "--- [$cfg] ${v:-default}: $($B run --gpus 1 $cfg $v --verify-tokens 4 --iters 2000 | grep -E "verify:|forward:|power:" | sed -E 's/ TFLOP.*//; s/.*forward: //; s/.*(PASS|FAIL).*/\1/; s/board power/power/; s/ of a 700 W limit//' | tr '\n' ' ')"
done; done
echo "=== elapsed ${SECONDS}s"
