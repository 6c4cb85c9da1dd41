#!/bin/bash
# v45 c2: main 99de479 (kernels of 5eb6f07), the closing figures for issue 10: the single sweep
# beside its same-run baselines (cuBLAS ideal, grouped_mm), ncu with the tensor-pipe metric that
# resolves on this ncu (sm__pipe_tensor_cycles_active; v41's gmma name read n/a) at 16384/32,
# 8192/64 and 128/64, and one timeline of 16384/32.
set -u
export PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
trap 'cp /tmp/p/bench/*.csv $OUT/ 2>/dev/null; cp /tmp/o/*.log $OUT/ 2>/dev/null' EXIT
. .gpuws/lib.sh
B=/tmp/p/MC/bin-bin-flashmoe
export FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py CUDA_VISIBLE_DEVICES=0
mkdir -p /tmp/p/bench && cd /tmp/p/bench
timeout -k 5 200 $B bench --sweeps single > /tmp/o/bench-single.log 2>&1; echo "single rc=$? at ${SECONDS}s"
grep -vE "^\s*$|^flashmoe T=" /tmp/o/bench-single.log | tail -24
cd - > /dev/null
M="--metrics sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes_read.sum,dram__bytes_write.sum,sm__warps_active.avg.pct_of_peak_sustained_active,lts__t_sector_hit_rate.pct,gpu__time_duration.sum,sm__cycles_elapsed.avg.per_second"
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 128 --experts 64"; do
  timeout -k 2 60 ncu --clock-control none $M -k regex:moe_ -s 2 -c 1 $B run --gpus 1 $cfg --verify-tokens 1 --iters 3 > /tmp/o/ncu.log 2>&1
  echo "=== ncu [$cfg] rc=$? $(grep -E ' moe_' /tmp/o/ncu.log | head -1 | awk '{print $1}') $(grep -E 'sm__|dram__|lts__|duration' /tmp/o/ncu.log | awk '{printf "%s %s %s; ", $1, $3, $2}')"
done
timeline MC "--tokens 16384 --experts 32"; grep -E "OS block|waiting per|SM clock|power" /tmp/r.log | cut -c1-260
echo "=== elapsed ${SECONDS}s"
