#!/bin/bash
# v40 c3 (1 GPU). M = main; Y = the sweep's tensor-core weight loads with .L2::256B (c2's X2);
# D = Y + the CUDA-core dot products' weight loads (sweep, lean) with .L2::256B; C = Y + every
# cp.async of `load_operand` (the 128-thread engines' weights and A, the ws engine's gathered A)
# with .L2::256B. Kernel ms, variants alternating; f64 check on every run.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters ${3:-30} > /tmp/r.log 2>&1; echo -n " $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | head -2; }
t C X=1 test-test-moe_single_gpu 300
D="--hidden 2048 --inter 2048 --capacity-factor 0"
MIX="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
for cfg in "--tokens 8 $D --experts 8 --lean-sweep" "--tokens 8 $D --experts 16 --lean-sweep" "--tokens 8 --hidden 4096 --inter 4096 --capacity-factor 0 --lean-sweep --experts 16" "--tokens 8 --hidden 4096 --inter 4096 --capacity-factor 0 --no-lean --experts 16" "--tokens 1 $D --experts 8" "--tokens 3 $D --experts 8" "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 8 $D --experts 16 --no-lean" "--tokens 128 --hidden 2048 --inter 2048 --experts 64"; do
  echo -n "[$cfg]"; for v in M Y D C M Y D C; do r $v "$cfg"; done; echo; done
echo "=== small ${SECONDS}s"
for cfg in "--tokens 1 $MIX" "--tokens 8 $MIX --lean-sweep" "--tokens 1 $MIX --no-lean" "--tokens 8 $MIX --no-lean" "--tokens 4 $MIX --lean-sweep" "--tokens 4 $MIX --no-lean"; do
  echo -n "[$cfg]"; for v in M Y D C; do r $v "$cfg" 20; done; echo; done
echo "=== mixtral ${SECONDS}s"
for cfg in "--tokens 16384 --hidden 2048 --inter 2048 --experts 32" "--tokens 8192 --hidden 2048 --inter 2048 --experts 64" "--tokens 4096 --hidden 2048 --inter 2048 --experts 128"; do
  echo -n "[$cfg]"; for v in M C M C; do r $v "$cfg" 20; done; echo; done
echo "=== elapsed ${SECONDS}s"
