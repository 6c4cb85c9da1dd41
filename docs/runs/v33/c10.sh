#!/bin/bash
# v33 c10 (1 GPU). After the review: the dispatch rows' map for the stream store is written once
# per launch (`os::ws::init_for`) instead of per task. M3 = that build, MAIN = 21751f1. Expect
# equal hashes and times.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c10.tar.xz -C /tmp/p
timeout -k 2 90 /tmp/p/M3/test-test-ws_forward --include-ignored --test-threads=1 > /tmp/t.log 2>&1; echo "=== M3 ws_forward rc=$? $(grep 'test result' /tmp/t.log)"
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do
  line="[$cfg]"; for v in MAIN M3 MAIN M3; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)$(hsh)"; done; echo "$line"; done
timeout -k 2 90 /tmp/p/M3/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 4 --iters 10 --timeline > /tmp/r.log 2>&1; grep -E "storing|streamed" /tmp/r.log
echo "=== elapsed ${SECONDS}s"
