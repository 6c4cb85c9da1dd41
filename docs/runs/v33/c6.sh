#!/bin/bash
# v33 c6 (1 GPU). S2 = S + the stored slices released as they complete (three stages behind; S released them once, after the epilogue, and readers boxed 83% of K slices against main 93%). S = c5 store-at-full (from main 1c96090): a streamed row tile's K slice is
# stored into the dispatch rows by consumer 0's thread 0 as soon as the stage landed (TMA store
# from the stage, its read overlapping the wgmmas; the stage's release waits for that read),
# not by the producer at the stage's refill (which held the refill back by the store's read);
# the slice count is released once, after the task's epilogue. M = main. Predicted: storing
# tasks' mainloop 48-52 -> ~30 us (c5: 27.9 / 30.5 us, forwards -1 to -2.6%). Predicted for S2:
# readers back to ~93% boxed, GEMM0 readers' mainloop back to main's, a further -1%.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t-$1-$3.log 2>&1; echo "=== $1 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3.log | cut -c1-300 | head -8; }
t S2 X=1 test-test-ws_forward
t S2 FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 16384 --experts 128" "--tokens 16384 --experts 32 --gated --activation silu --capacity-factor 0" "--tokens 4096 --experts 128" "--hidden 4096 --inter 14336 --experts 8 --tokens 4096 --gated --activation silu --capacity-factor 0"; do
  line="[$cfg]"; for rep in 1 2; do for v in M S S2; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)$(hsh)"; done; done; echo "$line"; done
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do for v in S2; do
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 10 --timeline > /tmp/r.log 2>&1; echo "--- $v timeline [$cfg] $(med)"; grep -E "per GEMM|streamed rows|first task|last task end|  exit" /tmp/r.log | sed 's/ws consumer 0 per //'
done; done
echo "=== elapsed ${SECONDS}s"
