#!/bin/bash
# v33 c3 (1 GPU). R2 = R with the activation path chosen once per task (the epilogue is generic
# over it: one contiguous copy of the passes per activation). c1/c2: R's GEMM0 epilogue stayed
# at 4.4-5.3 us (RN without stores 3.7-4.9) while GEMM1's fell to 2.6-3.0 (RN 1.8): GEMM0 jumped
# through every activation's code 16 times a task, i-cache misses suspected; GELU+bias was +10%.
# Predicted: GEMM0 epilogue ~ GEMM1's; forwards even or better than M, GELU+bias no longer worse.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t-$1-$3.log 2>&1; echo "=== $1 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3.log | cut -c1-300 | head -8; }
t R2 X=1 test-test-ws_tile
t R2 X=1 test-test-ws_forward
t R2 FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32 --gated --activation silu --capacity-factor 0" "--tokens 16384 --experts 32 --activation gelu --bias" "--hidden 4096 --inter 14336 --experts 8 --tokens 4096 --gated --activation silu --capacity-factor 0" "--tokens 1000 --experts 16 --gated --activation gelu --bias --top-k 3"; do
  line="[$cfg]"; for rep in 1 2; do for v in M R2; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)$(hsh)"; done; done; echo "$line"; done
for cfg in "--tokens 16384 --experts 32" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32 --activation gelu --bias"; do for v in M R2; do
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 10 --timeline > /tmp/r.log 2>&1; echo "--- $v timeline [$cfg] $(med)"; grep -E "per GEMM" /tmp/r.log | sed 's/ws consumer 0 per //'
done; done
echo "=== elapsed ${SECONDS}s"
