#!/bin/bash
# v44 c2: the fused combine, finalizers 2-3x faster (FC2: two rows in flight a warp, counts in two round trips, relaxed adds between fences; combine summed inside the GEMM1 phase by the producer's spare
# warps; producer 104 / consumers 200 registers) beside the same binary with combine tasks
# (NF = --no-fused-combine) and main 1328685's kernels (MC, the v43 binary), tests first.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
. .gpuws/lib.sh
t FC2 "X=1" test-test-ws_forward 150
grep -E "fused (true|false) run" /tmp/o/t.log | sed 's/MoeConfig {.*tokens: \([0-9]*\).*hidden: \([0-9]*\).*experts: \([0-9]*\).*top_k: \([0-9]*\).*} fused/T=\1 H=\2 E=\3 k=\4 fused/' | cut -c1-150
t FC2 "FLASHMOE_TEST_MAINLOOP=ws" test-test-moe_single_gpu 150
L="--hidden 2048 --inter 2048"
rn() {
  timeout -k 2 60 /tmp/p/FC2/bin-bin-flashmoe run --gpus 1 $1 --no-fused-combine --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1
  echo -n " NF=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"
  grep -iE "error|panic|illegal|timed out" /tmp/r.log | grep -v "rel L2 error" | head -2 | cut -c1-200
}
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  echo -n "[$cfg]"; r MC "$cfg"; r FC2 "$cfg"; rn "$cfg"; r FC2 "$cfg"; rn "$cfg"; r MC "$cfg"; echo
done
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64"; do
  timeline FC2 "$cfg"; grep -E "OS block|waiting per" /tmp/r.log | cut -c1-260
  timeline MC "$cfg"; grep -E "OS block|waiting per" /tmp/r.log | cut -c1-260
done
echo "=== elapsed ${SECONDS}s"
