#!/bin/bash
# v38 c6 (1 GPU). M = main 797cd02; E = GEMM1's first W2 vectors of each pass asked for before
# the staged h rows are waited for (c1 showed GEMM1's start bound by that staging). Kernel ms
# with the sweep forced, alternating, hashes beside (expected equal); E's suites; sanitizer.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
MIX="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu"
for cfg in "--tokens 1 $MIX" "--tokens 1 --hidden 2048 --inter 2048 --experts 8" "--tokens 3 --hidden 2048 --inter 2048 --experts 8" "--tokens 1 --hidden 2048 --inter 2048 --experts 64" "--tokens 1 --hidden 4096 --inter 4096 --experts 8"; do
  line="[$cfg]"; for rep in 1 2; do for v in M E; do
    timeout -k 2 60 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --lean-sweep --verify-tokens 1 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; done; done
  echo "$line"; done
echo "=== bench done ${SECONDS}s"
t E FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t E FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_single_gpu 100
for tool in memcheck racecheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool /tmp/p/E/bin-bin-flashmoe run --gpus 1 --lean-sweep --max-blocks 9 --tokens 2 --hidden 256 --inter 20480 --experts 2 --top-k 1 --bias --timeout-ms 60000 --verify-tokens 3 --iters 2 > /tmp/o/s-$tool.log 2>&1
  echo "=== CSAN $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
done
echo "=== elapsed ${SECONDS}s"
