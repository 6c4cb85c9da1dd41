#!/usr/bin/env bash
# Builds the GPU bundle (.gpu/, ../shared/tools/gpu-bundle) after the checks a GPU call would
# otherwise find too late: every PTX build through ptxas (with the NVSHMEM build when
# GPU_BUNDLE_FEATURES holds `nvshmem`: perf log v15, where its module failed to load on the GPU
# because this check had not been run). ptxas: FLASHMOE_PTXAS, else the one `.ci/run` installs,
# else PATH's; NVSHMEM_HOME for the NVSHMEM build; with FLASHMOE_NVDISASM, scripts/sass-check.sh.
#   GPU_BUNDLE_FEATURES="--features nvshmem" NVSHMEM_HOME=... bash scripts/bundle.sh
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export FLASHMOE_REQUIRE_PTXAS=1
# Embed ptxas's cubins: the GPU machine loads them without a JIT (host/build.rs).
export FLASHMOE_CUBIN=1
if [ -z "${FLASHMOE_PTXAS:-}" ] && [ -x .ci/.tools/nvidia/cuda_nvcc/bin/ptxas ]; then
  export FLASHMOE_PTXAS="$PWD/.ci/.tools/nvidia/cuda_nvcc/bin/ptxas"
fi
# shellcheck disable=SC2086 # the features are words
cargo test --release ${GPU_BUNDLE_FEATURES:-} --test ptxas
# The machine code itself, where a disassembler is at hand (scripts/sass-check.sh).
if [ -n "${FLASHMOE_NVDISASM:-}" ]; then
  bash "$root/scripts/sass-check.sh"
fi
exec "$root/../shared/tools/gpu-bundle"
