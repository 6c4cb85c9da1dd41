#!/bin/bash
# v33 c9 (1 GPU). S4 = main 21751f1 + the stored-slices count released from the mainloop twelve
# stores behind (`cp.async.bulk.wait_group 12`: stores issued ~10 us earlier, complete; c6's S2
# waited three behind and held the warpgroup). M = main. Predicted: readers box ~90% (main 84%),
# their mainloop -0.5 to -1 us, forwards -0.5 to -1.5%; storing tasks stay ~28 us.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c9.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
timeout -k 2 90 /tmp/p/S4/test-test-ws_forward --include-ignored --test-threads=1 > /tmp/o/t.log 2>&1; echo "=== S4 ws_forward rc=$? $(grep 'test result' /tmp/o/t.log)"
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 16384 --experts 32 --gated --activation silu --capacity-factor 0"; do
  line="[$cfg]"; for rep in 1 2; do for v in MAIN S4; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)$(hsh)"; done; done; echo "$line"; done
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do
  timeout -k 2 90 /tmp/p/S4/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 10 --timeline > /tmp/r.log 2>&1; echo "--- S4 timeline [$cfg] $(med)"; grep -E "per GEMM|streamed rows" /tmp/r.log | sed 's/ws consumer 0 per //'
done
echo "=== elapsed ${SECONDS}s"
