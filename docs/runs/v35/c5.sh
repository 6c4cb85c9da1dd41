#!/bin/bash
# v35 c5 (1 GPU). S2 = S1 + GEMM0 in groups of 1-4 columns a warp and 16 loads in flight a lane
# in both sweeps (c4: W2 streamed at 3.4 TB/s with 8 KB in flight a warp, GEMM0 of short rows
# one round trip a column). Tests; S2 vs S1 vs the default on decode layers; timelines.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
t S2 X=1 test-test-lean_forward
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 1 --hidden 2048 --inter 2048 --experts 8" "--tokens 2 --hidden 2048 --inter 2048 --experts 8" "--tokens 4 --hidden 2048 --inter 2048 --experts 64" "--tokens 1 --hidden 2048 --inter 2048 --experts 64 --gated --activation silu" "--tokens 1 --hidden 1024 --inter 1024 --experts 8" "--tokens 1 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu" "--tokens 4 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in "S2 --lean-sweep" "S1 --lean-sweep" "S2 default"; do set -- $v; x=$2; [ $x = default ] && x=""
    timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $cfg $x --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $1$x=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
for cfg in "--tokens 1 --hidden 2048 --inter 2048 --experts 8" "--tokens 4 --hidden 2048 --inter 2048 --experts 64" "--tokens 1 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu"; do
  timeout -k 2 90 /tmp/p/S2/bin-bin-flashmoe run --gpus 1 $cfg --lean-sweep --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- S2 sweep timeline [$cfg] $(med)"; grep -E "^  (logits|routing done|barrier|first|last|exit)" /tmp/r.log; done
echo "=== elapsed ${SECONDS}s"
