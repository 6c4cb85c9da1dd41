#!/bin/bash
# v39 c3 (1 GPU). M = main 7c1802d, S = v39 with a candidate heuristic (the sweep for 4..8
# tokens where 2·T·k <= 3·E, T <= 3 unchanged, at most 1 GiB of chosen weights). Kernel ms:
# M default, S forced (s) and S default (d) on small and edge layers (T·k = E at T <= 3, k = 1,
# 1 GiB); the suites with the sweep forced and by default; the decode sweep (S, with PyTorch).
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1${3:-}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | head -2; }
D="--hidden 2048 --inter 2048"
for cfg in "--tokens 5 --hidden 256 --inter 256 --experts 8" "--tokens 8 --hidden 256 --inter 256 --experts 16" "--tokens 6 --hidden 512 --inter 512 --experts 8" "--tokens 8 --hidden 512 --inter 512 --experts 32 --gated --activation silu" "--tokens 8 --hidden 1024 --inter 1024 --experts 16" "--tokens 7 $D --experts 16" "--tokens 8 $D --experts 8 --top-k 1" "--tokens 4 $D --experts 8 --gated --activation silu" "--tokens 8 --hidden 4096 --inter 4096 --experts 16" "--tokens 2 $D --experts 4" "--tokens 3 $D --experts 6" "--tokens 3 $D --experts 4" "--tokens 1 $D --experts 2"; do
  echo -n "[$cfg]"; r M "$cfg"; r S "$cfg --lean-sweep" s; r S "$cfg" d; r M "$cfg"; r S "$cfg --lean-sweep" s; echo; done
echo "=== bench done ${SECONDS}s"
t S X=1 test-test-lean_forward
t S FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_reliability
t S FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_single_gpu
t S X=1 test-test-moe_single_gpu
t S FLASHMOE_TEST_LEAN_SWEEP=1 test-test-forward_graph
t S X=1 test-test-forward_graph
timeout -k 5 240 /tmp/p/S/bin-bin-flashmoe bench --sweeps decode > $OUT/bench-decode.log 2>&1; echo "decode rc=$? at ${SECONDS}s"
grep -A24 "^tokens" $OUT/bench-decode.log
echo "=== elapsed ${SECONDS}s"
