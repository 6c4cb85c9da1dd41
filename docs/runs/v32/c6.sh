#!/bin/bash
# v32 c6 (1 GPU): where the ws epilogue's 4-6 us go (timing probes, branch epi-probe; results
# wrong by design for NOSTG). NOSTG = the epilogue without its global stores (the staging, loads
# and math kept); TWICE = the epilogue run twice per task. M = main. The task clock's epilogue lap
# (fence included) per kind. If NOSTG's epilogue is ~1 us, the stores are its cost (a TMA-store
# epilogue would pay); if TWICE adds a full epilogue, the cost is intrinsic, not a drain.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for rep in 1 2; do for v in M NOSTG TWICE; do for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- $v [$cfg] $(med) ms"; grep -E "per GEMM" /tmp/r.log | sed 's/ws consumer 0 per //'
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; echo "    untimed-lines forward $(med) ms $(grep -c PASS /tmp/r.log)pass"
done; done; done
echo "=== elapsed ${SECONDS}s"
