#!/bin/bash
# Next session, call 1 (1 GPU), prepared in session 20 (not run). Pack with /tmp/pack.sh:
#   M = main (CLI only), P = branch engine-per-forward (the CLI and ws_forward, moe_single_gpu,
#   forward_graph, moe_reliability); tar cJf .gpuws/next1.tar.xz -C /tmp/gpuws_p M P.
# P: a layer Auto puts on the ws engine keeps the 128-thread engine for forwards with few rows
# per expert, and wide-64 again on top. Merge if the suites pass, T = 1 on a layer built for
# 4096 tokens matches a layer built for 1, and the wide-64 points keep their gain.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/next1.tar.xz -C /tmp/p
trap 'cp /tmp/p/bench/*.csv /tmp/p/bench/*.png $OUT/ 2>/dev/null; cp /tmp/o/bench*.log $OUT/ 2>/dev/null' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-300 | head -8; grep -E "^gated (true|false) T=" /tmp/t.log | head -10; }
t P X=1 test-test-ws_forward
t P X=1 test-test-moe_single_gpu
t P FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t P X=1 test-test-forward_graph
t P X=1 test-test-moe_reliability
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
# Decode on a layer built for prefill (P only: main has no --max-tokens) against a layer built for T.
for cfg in "--tokens 1 --experts 8" "--tokens 4 --experts 64" "--tokens 1 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"; do
  line="[$cfg]"; for rep in 1 2; do for m in "" "--max-tokens 4096"; do
    timeout -k 2 90 /tmp/p/P/bin-bin-flashmoe run --gpus 1 $cfg $m --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line ${m:+built4096}${m:-builtT}:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; grep "forwards of T" /tmp/r.log | head -1; done
# wide-64's points (M: 128-thread engine, P: ws) and the large layers.
for cfg in "--tokens 4096 --experts 128" "--tokens 2048 --experts 64" "--tokens 256 --experts 8" "--tokens 16384 --experts 32" "--tokens 16384 --experts 32 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in M P; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
mkdir -p /tmp/p/bench && cd /tmp/p/bench && timeout -k 5 150 /tmp/p/P/bin-bin-flashmoe bench --sweeps decode > /tmp/o/bench-decode.log 2>&1; echo "decode rc=$? at ${SECONDS}s"; cd - > /dev/null
grep -E "^\s+(1|8|32|128|256)\s+8\s+2048" /tmp/o/bench-decode.log
echo "=== elapsed ${SECONDS}s"
