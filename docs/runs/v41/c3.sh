#!/bin/bash
# v41 c3 (1 GPU). (1) Timing probe P1 = main with the ws consumers' epilogue removed (no staging,
# no stores; `finish` kept; outputs garbage, so the f64 check fails by design): the most a fully
# asynchronous epilogue (stores by another warp or TMA) could buy. Decision rule: <= 5% -> not worth
# building; >= 10% -> the storer design is the next lever. (2) main's single sweep beside its
# same-run baselines (cuBLAS ideal, grouped_mm), (3) ncu on main at 16384/32 and 128/64 (issue 10
# item 6, fresh figures).
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
trap 'cp /tmp/p/bench/*.csv $OUT/ 2>/dev/null; cp /tmp/o/*.log $OUT/ 2>/dev/null' EXIT
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; }
L="--hidden 2048 --inter 2048"
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  echo -n "[$cfg]"; for i in 1 2; do r MC "$cfg"; r P1 "$cfg"; done; echo; done
timeout -k 2 90 /tmp/p/P1/bin-bin-flashmoe run --gpus 1 --tokens 16384 $L --experts 32 --verify-tokens 2 --iters 10 --timeline > /tmp/r.log 2>&1
echo "--- P1 16384/32 timeline $(med)"; grep -E "first task|last task|exit|processors|per GEMM|consumer 0 idle" /tmp/r.log | tr -s ' '
echo "=== probe done ${SECONDS}s"
export FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py CUDA_VISIBLE_DEVICES=0
mkdir -p /tmp/p/bench && cd /tmp/p/bench
timeout -k 5 170 /tmp/p/MC/bin-bin-flashmoe bench --sweeps single > /tmp/o/bench-single.log 2>&1; echo "single rc=$? at ${SECONDS}s"
grep -vE "^\s*$|^flashmoe T=" /tmp/o/bench-single.log | tail -22
cd - > /dev/null
M="--metrics sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes_read.sum,dram__bytes_write.sum,sm__warps_active.avg.pct_of_peak_sustained_active,lts__t_sector_hit_rate.pct,gpu__time_duration.sum"
for cfg in "--tokens 16384 --experts 32" "--tokens 128 --experts 64"; do
  timeout -k 2 60 ncu --clock-control none $M -k regex:moe_ -s 2 -c 1 /tmp/p/MC/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 3 > /tmp/o/ncu.log 2>&1
  echo "=== ncu [$cfg] rc=$? $(grep -E ' moe_' /tmp/o/ncu.log | head -1 | awk '{print $1}') $(grep -E 'sm__|dram__|lts__|duration' /tmp/o/ncu.log | awk '{printf "%s %s %s; ", $1, $3, $2}')"
done
echo "=== elapsed ${SECONDS}s"
