#!/bin/bash
# v43 c3: cluster pairs without the producer's spills (PR3: pairs.patch + the role, slot and
# task clock of producer thread 0 kept in shared memory; ptxas: 20 spill bytes, none left in the cp.async loop) beside main (MC) and
# itself without clusters (PRN), with the task clock.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
. .gpuws/lib.sh
t PR "X=1" test-test-ws_forward 120
grep -E "pairs (true|false) run" /tmp/o/t.log | sed 's/MoeConfig {.*tokens: \([0-9]*\).*experts: \([0-9]*\).*} pairs/T=\1 E=\2 pairs/' | cut -c1-120
t PR "FLASHMOE_TEST_MAINLOOP=ws" test-test-moe_single_gpu 120
L="--hidden 2048 --inter 2048"
rn() {
  timeout -k 2 60 /tmp/p/PR/bin-bin-flashmoe run --gpus 1 $1 --no-cluster-pairs --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1
  echo -n " PRN=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"
  grep -iE "error|panic|illegal|timed out" /tmp/r.log | grep -v "rel L2 error" | head -2 | cut -c1-200
}
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  echo -n "[$cfg]"; r MC "$cfg"; r PR "$cfg"; rn "$cfg"; r PR "$cfg"; r MC "$cfg"; rn "$cfg"; echo
done
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64"; do
  timeline PR "$cfg"; grep -E "cluster pairs|waiting per" /tmp/r.log | cut -c1-160
  timeline MC "$cfg"; grep -E "waiting per" /tmp/r.log | cut -c1-160
done
echo "=== elapsed ${SECONDS}s"
