#!/bin/bash
# v34 c4 (1 GPU). L3 = lean after c3 (c3: slower than c2: 13k SASS instructions, FMUL+FADD,
# shuffles in conditional code with collective overhead). Now: FMA (fmaf32), GEMM1 a whole
# row per thread (no shuffles, coalesced partial stores), phase marks in the timeline.
# Predicted: tiny kernel <= 0.020 ms (c2 0.022, c3 0.028).


set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -8; }
t L3 X=1 test-test-lean_forward
grep -E "rel_err" /tmp/o/t-L3-test-test-lean_forward-X.log | cut -c1-200 | head -16
t L3 X=1 test-test-forward_graph
grep -iE "  (forward_device|graph replay|empty)" /tmp/o/t-L3-test-test-forward_graph-X.log | cut -c1-160 | head -8
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 4 --hidden 256 --inter 256 --experts 8" "--tokens 1 --hidden 512 --inter 512 --experts 8" "--tokens 1 --hidden 1024 --inter 1024 --experts 8" "--tokens 1 --experts 8" "--tokens 4 --hidden 512 --inter 512 --experts 64" "--tokens 1 --hidden 256 --inter 256 --experts 64 --gated --activation silu --bias" "--tokens 1 --hidden 1024 --inter 256 --experts 128 --top-k 8 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in lean no-lean; do
    timeout -k 2 60 /tmp/p/L3/bin-bin-flashmoe run --gpus 1 $cfg --$v --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done

for v in lean no-lean; do timeout -k 2 60 /tmp/p/L3/bin-bin-flashmoe run --gpus 1 --tokens 1 --hidden 256 --inter 256 --experts 8 --$v --verify-tokens 1 --iters 30 --timeline > /tmp/r.log 2>&1; echo "--- $v timeline $(med)"; grep -E "^  (logits|routing|barrier|dispatch|first|last|exit)" /tmp/r.log; done
echo "=== elapsed ${SECONDS}s"
