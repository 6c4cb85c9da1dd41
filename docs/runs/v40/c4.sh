#!/bin/bash
# v40 c4 (1 GPU). F = the final build: the sweep's tensor-core loads with .L2::256B, the new
# heuristics::lean_sweep. Suites; the heuristic's new choices against --no-lean (drop-less);
# memcheck on an MMA sweep.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1${3:-}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)$(grep -oP 'run \Kmoe_\w+' /tmp/r.log | tail -1)"; grep -E "rror" /tmp/r.log | head -2; }
t F X=1 test-test-lean_forward
t F FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t F X=1 test-test-moe_single_gpu 300
t F X=1 test-test-forward_graph 200
t F X=1 test-test-moe_reliability 200
D="--hidden 2048 --inter 2048 --capacity-factor 0"
for cfg in "--tokens 8 $D --experts 8" "--tokens 8 $D --experts 16" "--tokens 8 $D --experts 16 --top-k 4" "--tokens 8 --hidden 4096 --inter 4096 --capacity-factor 0 --experts 16" "--tokens 8 $D --experts 8 --gated --activation silu" "--tokens 6 $D --experts 8" "--tokens 8 $D --experts 64" "--tokens 4 $D --experts 8"; do
  echo -n "[$cfg]"; r F "$cfg" d; r F "$cfg --no-lean" n; r F "$cfg" d; r F "$cfg --no-lean" n; echo; done
B=/tmp/p/F/bin-bin-flashmoe
cfg="--tokens 8 --hidden 512 --inter 384 --experts 8 --gated --bias --activation silu"
timeout -k 2 60 compute-sanitizer --tool memcheck --error-exitcode 9 $B run --gpus 1 --lean-sweep --capacity-factor 0 --max-blocks 9 $cfg --timeout-ms 120000 --verify-tokens 8 --iters 1 > /tmp/o/s.log 2>&1
echo "=== memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/o/s.log | tail -1) $(grep -c PASS /tmp/o/s.log) pass"
echo "=== elapsed ${SECONDS}s"
