#!/bin/bash
# v40 c5 (1 GPU). F = main 806b9a7; G = branch sweep-mma-handoff: gemm0_mma's warps 1-3 stream the
# next tile once warp 0 read the partial sums (named barrier) instead of waiting out its
# epilogue; gemm1_mma's warps free the sums' space once read. Sweep forced, drop-less.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters ${3:-30} > /tmp/r.log 2>&1; echo -n " $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | head -2; }
t G FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
B=/tmp/p/G/bin-bin-flashmoe
cfg="--tokens 8 --hidden 512 --inter 384 --experts 8 --gated --bias --activation silu"
for tool in racecheck synccheck; do
timeout -k 2 60 compute-sanitizer --tool $tool --error-exitcode 9 $B run --gpus 1 --lean-sweep --capacity-factor 0 --max-blocks 9 $cfg --timeout-ms 120000 --verify-tokens 8 --iters 1 > /tmp/o/s.log 2>&1
echo "=== $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s.log | tail -1) $(grep -c PASS /tmp/o/s.log) pass"
done
D="--hidden 2048 --inter 2048 --capacity-factor 0 --lean-sweep"
for cfg in "--tokens 8 $D --experts 8" "--tokens 8 $D --experts 16" "--tokens 8 $D --experts 8 --gated --activation silu" "--tokens 8 --hidden 4096 --inter 4096 --capacity-factor 0 --lean-sweep --experts 16"; do
  echo -n "[$cfg]"; for v in F G F G; do r $v "$cfg"; done; echo; done
MIX="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
for cfg in "--tokens 8 $MIX --lean-sweep" "--tokens 4 $MIX --lean-sweep"; do
  echo -n "[$cfg]"; for v in F G F G; do r $v "$cfg" 20; done; echo; done
echo "=== elapsed ${SECONDS}s"
