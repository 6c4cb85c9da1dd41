#!/bin/bash
# v43 c1: cluster pairs (B multicast, branch pair = main + os::pair) on one H200: its tests,
# then the layers beside main (MC) and itself without clusters (PRN = --no-cluster-pairs, the same
# binary), with the pair rates; then v42's c13 probes (H, TRH, P1, TR from v42 probes.patch).
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
. .gpuws/lib.sh
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv,noheader
t PR "X=1" test-test-ws_forward 120
grep -E "pairs (true|false) run" /tmp/o/t.log | sed 's/MoeConfig {.*tokens: \([0-9]*\).*experts: \([0-9]*\).*} pairs/T=\1 E=\2 pairs/' | cut -c1-200
t PR "X=1" test-test-ws_tile 60
t PR "FLASHMOE_TEST_MAINLOOP=ws" test-test-moe_single_gpu 120
t PR "X=1" test-test-moe_single_gpu 120
t PR "X=1" test-test-forward_graph 60
L="--hidden 2048 --inter 2048"
rn() { # r with --no-cluster-pairs, printed as PRN
  timeout -k 2 60 /tmp/p/PR/bin-bin-flashmoe run --gpus 1 $1 --no-cluster-pairs --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1
  echo -n " PRN=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"
  grep -iE "error|panic|illegal|timed out" /tmp/r.log | grep -v "rel L2 error" | head -2 | cut -c1-200
}
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  echo -n "[$cfg]"; for v in MC PR; do r $v "$cfg"; done; rn "$cfg"; r PR "$cfg"; r MC "$cfg"; rn "$cfg"; echo
done
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128"; do
  timeline PR "$cfg"; grep -E "cluster pairs|blocks per GPU" /tmp/r.log | cut -c1-220
  timeline MC "$cfg"
done
echo "=== elapsed ${SECONDS}s"
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64"; do
  echo -n "[$cfg]"; for v in MC H TRH; do r $v "$cfg"; done; echo
done
echo "=== elapsed ${SECONDS}s"
