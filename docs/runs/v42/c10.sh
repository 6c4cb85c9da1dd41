#!/bin/bash
# v42 c10 (1 GPU). Is the store cost where the rows go? Probe FLASHMOE_PROBE_PRIVATE_ROWS (PR):
# every block stores all its tasks' output rows into a private 128-row region of the staging
# buffer (120 regions, 63 MB, L2-resident and overwritten in place: no write-allocation of new
# lines, little write-back), same instructions and bytes as main. Wrong outputs by design.
# Predicted if the cost is the write path to fresh lines / DRAM write-back: PR -5 to -15% at
# 16384/32; if it is the SM's drain itself: PR within 2% of MC.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c10.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
r() { timeout -k 2 60 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; }
L="--hidden 2048 --inter 2048"
for cfg in "--tokens 16384 $L --experts 32" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  echo -n "[$cfg]"; for v in MC PR MC PR; do r $v "$cfg"; done; echo
done
timeout -k 2 60 /tmp/p/PR/bin-bin-flashmoe run --gpus 1 --tokens 16384 $L --experts 32 --verify-tokens 2 --iters 10 --timeline > /tmp/r.log 2>&1
echo "--- PR 16384/32 timeline $(med)"; grep -E "per GEMM|exit|idle" /tmp/r.log | tr -s ' '
timeout -k 2 60 ncu --clock-control none --metrics dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum,lts__t_sector_hit_rate.pct -k regex:moe_ -s 2 -c 1 /tmp/p/PR/bin-bin-flashmoe run --gpus 1 --tokens 16384 $L --experts 32 --verify-tokens 1 --iters 3 > /tmp/o/ncu.log 2>&1
echo "=== ncu PR $(grep -E 'dram__|lts__|duration' /tmp/o/ncu.log | awk '{printf "%s %s %s; ", $1, $3, $2}')"
echo "=== elapsed ${SECONDS}s"
