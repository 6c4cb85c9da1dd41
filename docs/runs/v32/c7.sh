#!/bin/bash
# v32 c7 (1 GPU). ACT = branch act-per-vector: GEMM0's activation branches on its kind once per
# 8-value vector (`Act::apply8`) instead of twice per value (c6: the ws epilogue is on-chip work,
# and GEMM0's is ~2 us longer than GEMM1's; its SASS kept 2 branches per value, 256 a thread a
# task). M = main. Predicted: GEMM0 epilogue 5.8 -> ~4 us, forwards -2 to -4% at 16384/32.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c7.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t-$1-$3.log 2>&1; echo "=== $1 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3.log | cut -c1-300 | head -8; }
t ACT X=1 test-test-ws_forward
t ACT FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t ACT X=1 test-test-moe_single_gpu
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32 --gated --activation silu --capacity-factor 0" "--tokens 16384 --experts 32 --activation gelu" "--hidden 4096 --inter 14336 --experts 8 --tokens 4096 --gated --activation silu --capacity-factor 0"; do
  line="[$cfg]"; for rep in 1 2 3; do for v in M ACT; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
for v in M ACT; do cfg="--tokens 16384 --experts 32"
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 10 --timeline > /tmp/r.log 2>&1; echo "--- $v timeline [$cfg] $(med)"; grep -E "per GEMM" /tmp/r.log | sed 's/ws consumer 0 per //'
done
echo "=== elapsed ${SECONDS}s"
