#!/bin/bash
# v36 c6 (1 GPU). F = main (c5), C = the sweep's GEMM0 by pairs of warps a column (each
# instruction of a pair reads 1 KiB of contiguous weights, half the row streams; the halves'
# sums added through shared memory at a pair barrier). Kernel ms, sweep forced, alternating;
# F with fewer blocks (is the rate set by the warps' loads in flight?); timelines; C's tests
# with the sweep forced and compute-sanitizer on small sweeps.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
MIX="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu"
for cfg in "--tokens 1 $MIX" "--tokens 2 $MIX" "--tokens 1 --hidden 2048 --inter 2048 --experts 8" "--tokens 3 --hidden 2048 --inter 2048 --experts 8" "--tokens 1 --hidden 1536 --inter 1536 --experts 8 --gated --activation silu" "--tokens 1 --hidden 4096 --inter 4096 --experts 8"; do
  line="[$cfg]"; for rep in 1 2; do for v in F C; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --lean-sweep --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; done; done; echo "$line"; grep -E "rror" /tmp/r.log | head -3; done
line="[Mixtral T=1 F --max-blocks]"; for mb in 132 198 264; do timeout -k 2 90 /tmp/p/F/bin-bin-flashmoe run --gpus 1 --tokens 1 $MIX --lean-sweep --max-blocks $mb --verify-tokens 1 --iters 30 > /tmp/r.log 2>&1; line="$line $mb=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; echo "$line"
echo "=== bench done ${SECONDS}s"
for b in F C; do
  timeout -k 2 90 /tmp/p/$b/bin-bin-flashmoe run --gpus 1 --tokens 1 $MIX --lean-sweep --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- $b sweep timeline Mixtral T=1 $(med)"; grep -E "^  (routing done|barrier|last|exit)" /tmp/r.log; done
t C FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t C FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_single_gpu 200
for args in "--tokens 3 --hidden 256 --inter 320 --experts 12 --gated --bias --activation silu" "--tokens 4 --hidden 256 --inter 8192 --experts 2 --top-k 2 --bias"; do
for tool in memcheck racecheck synccheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool /tmp/p/CSAN/bin-bin-flashmoe run --gpus 1 --lean-sweep --max-blocks 6 $args --timeout-ms 60000 --verify-tokens 3 --iters 2 > /tmp/o/s-$tool.log 2>&1
  echo "=== CSAN $tool [$args] rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Error:|Race reported" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -3
done; done
echo "=== elapsed ${SECONDS}s"
