#!/bin/bash
# v33 c1 (1 GPU). R = branch epi-stmatrix: the ws epilogue computes bias / activation / gating on
# the accumulators in registers, narrows to 16 bits and stages by stmatrix (4 passes of 64
# columns, half the shared bytes of main's 8 f32 passes). M = main 1c96090. Same arithmetic, so
# output hashes must match. Predicted: GEMM1 epilogue 4.0 -> ~1.5-2 us, GEMM0 4.6 -> ~2 us;
# forwards 16384/32 -5 to -8%.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t-$1-$3.log 2>&1; echo "=== $1 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3.log | cut -c1-300 | head -8; }
t R X=1 test-test-ws_tile
t R X=1 test-test-ws_forward
t R FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32 --gated --activation silu --capacity-factor 0" "--tokens 16384 --experts 32 --activation gelu --bias" "--hidden 4096 --inter 14336 --experts 8 --tokens 4096 --gated --activation silu --capacity-factor 0" "--tokens 1000 --experts 16 --gated --activation gelu --bias --top-k 3"; do
  line="[$cfg]"; for rep in 1 2; do for v in M R; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)$(hsh)"; done; done; echo "$line"; done
for v in M R; do cfg="--tokens 16384 --experts 32"
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 10 --timeline > /tmp/r.log 2>&1; echo "--- $v timeline [$cfg] $(med)"; grep -E "per GEMM" /tmp/r.log | sed 's/ws consumer 0 per //'
done
echo "=== elapsed ${SECONDS}s"
