#!/bin/bash
# v33 c5 (1 GPU). S = branch store-at-full (from main 1c96090): a streamed row tile's K slice is
# stored into the dispatch rows by consumer 0's thread 0 as soon as the stage landed (TMA store
# from the stage, its read overlapping the wgmmas; the stage's release waits for that read),
# not by the producer at the stage's refill (which held the refill back by the store's read);
# the slice count is released once, after the task's epilogue. M = main. Predicted: storing
# tasks' mainloop 48-52 -> ~30 us, forwards -2 to -4% at 16384/32 and 8192/64; risk: readers
# box fewer slices (count released at the end).
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t-$1-$3.log 2>&1; echo "=== $1 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3.log | cut -c1-300 | head -8; }
t S X=1 test-test-ws_forward
t S FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 16384 --experts 128" "--tokens 8192 --experts 32" "--tokens 16384 --experts 32 --gated --activation silu --capacity-factor 0" "--tokens 4096 --experts 128"; do
  line="[$cfg]"; for rep in 1 2; do for v in M S; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)$(hsh)"; done; done; echo "$line"; done
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do for v in M S; do
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 10 --timeline > /tmp/r.log 2>&1; echo "--- $v timeline [$cfg] $(med)"; grep -E "per GEMM|streamed rows|first task|last task end|  exit" /tmp/r.log | sed 's/ws consumer 0 per //'
done; done
echo "=== elapsed ${SECONDS}s"
