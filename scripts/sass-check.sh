#!/usr/bin/env bash
# Checks the machine code ptxas makes of every PTX build for an encoding the H200 rejects:
# a memory descriptor in an odd uniform register (`desc[UR1]`; descriptors are register pairs).
# ptxas 12.9 and 13.0 emitted 32 such cp.async (with an L2 cache hint, at constant shared
# offsets, under full register pressure) in a kernel that then died with "illegal instruction"
# at exactly that instruction (perf log v17). Needs nvdisasm (PyPI nvidia-cuda-nvdisasm):
#   FLASHMOE_NVDISASM=.../nvdisasm [FLASHMOE_PTXAS=.../ptxas] bash scripts/sass-check.sh
# Use the ptxas of the GPU driver's CUDA release (13.0 for driver 580): the driver compiles our PTX
# at load time. FLASHMOE_ROOT: another checkout's build (default: this one).
set -eu
root=${FLASHMOE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
ptxas=${FLASHMOE_PTXAS:-ptxas}
nvdisasm=${FLASHMOE_NVDISASM:?set FLASHMOE_NVDISASM to nvdisasm}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for ptx in $(ls -t "$root"/target/release/build/flashmoe-*/out/kernels_sm_90a*.ptx | awk -F/ '!seen[$NF]++'); do
  "$ptxas" -arch=sm_90a -O3 -o "$tmp/k.cubin" "$ptx"
  bad=$("$nvdisasm" -c "$tmp/k.cubin" 2>/dev/null | awk '/^\.text\./ {f = substr($1, 7, length($1) - 7)} /desc\[UR[0-9]*[13579]\]/ {n[f]++} END {for (f in n) print f ": " n[f]}')
  if [ -n "$bad" ]; then
    echo "sass-check: $(basename "$ptx"): descriptors in odd uniform registers (illegal on the GPU):"
    echo "$bad"
    status=1
  else
    echo "sass-check: $(basename "$ptx"): ok"
  fi
done
exit $status
