#!/bin/bash
# v32 c9 (1 GPU): is the ws epilogue's time instruction fetch? LOOP2 (branch epi-probe, timing
# probe) runs the one copy of the epilogue's code twice per task (c6's TWICE inlined two copies,
# both cold). If the second run is much cheaper than the first, i-cache misses dominate; if it
# costs as much, the work itself does. MAIN = main. (LOOP2's loop spills 16 bytes.)
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c9.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for rep in 1 2; do for v in MAIN LOOP2; do for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do
  timeout -k 2 60 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- $v [$cfg] $(med) ms $(grep -c PASS /tmp/r.log)pass"; grep -E "per GEMM" /tmp/r.log | sed 's/ws consumer 0 per //'
done; done; done
echo "=== elapsed ${SECONDS}s"
