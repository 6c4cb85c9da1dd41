#!/bin/bash
# v42 c7 (1 GPU). Epilogue variants beside main (MC), all from docs/runs/v41/epi-tma.patch plus
# the direct epilogue (v42), build-time switches:
#   TN  = FLASHMOE_PROBE_EPI_NOWAIT (v41 boxes, release without the write wait: timing only)
#   TD  = FLASHMOE_EPI_DEFER (v41 boxes, release deferred to the next epilogue)
#   RD  = FLASHMOE_EPI_DIRECT + FLASHMOE_EPI_DEFER (every task from registers: quad transpose,
#         16-byte st.global, no staging; every release deferred)
#   RDN = FLASHMOE_EPI_DIRECT (the same, released at once)
# Predicted: RD -8 to -12% at 16384/32 (epilogue 4.4 -> ~1 us, finish ~0.3 us), RDN -4%,
# TN/TD -3 to -8%. Hashes equal to main's. Then RD's suites on ws and sanitizers.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c7.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 60 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | head -2 | cut -c1-200; }
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-100} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t.log | cut -c1-300 | head -10; }
L="--hidden 2048 --inter 2048"
n=0
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0" "--tokens 2048 --hidden 1024 --inter 320 --experts 8 --gated --bias --activation gelu --capacity-factor 0"; do
  n=$((n+1)); echo -n "[$cfg]"; for v in MC TN TD RD RDN; do r $v "$cfg"; done; echo
  if [ $n -le 3 ]; then echo -n "  again:"; for v in MC RD TD RDN; do r $v "$cfg"; done; echo; fi
done
for b in MC RD; do
timeout -k 2 60 /tmp/p/$b/bin-bin-flashmoe run --gpus 1 --tokens 16384 $L --experts 32 --verify-tokens 2 --iters 10 --timeline > /tmp/r.log 2>&1
echo "--- $b 16384/32 timeline $(med)"; grep -E "per GEMM|exit" /tmp/r.log | tr -s ' '
done
echo "=== A/B done ${SECONDS}s"
t RD X=1 test-test-ws_forward
t RD FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu 120
t RD FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability 80
B=/tmp/p/RD/bin-bin-flashmoe
for tool in memcheck racecheck synccheck; do
  timeout -k 2 90 compute-sanitizer --tool $tool --error-exitcode 9 $B run --gpus 1 --mainloop ws --tokens 300 --hidden 512 --inter 320 --experts 8 --gated --bias --activation silu --capacity-factor 0 --timeout-ms 120000 --verify-tokens 8 --iters 1 > /tmp/o/s-$tool.log 2>&1
  echo "=== $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Race reported|Error:|rror" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
done
echo "=== elapsed ${SECONDS}s"
