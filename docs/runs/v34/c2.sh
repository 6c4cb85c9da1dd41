#!/bin/bash
# v34 c2 (1 GPU). L = branch lean (main 46c7c1d + the lean decode kernel: one plain launch for
# T <= 4 on one GPU; every block routes the tokens itself, takes (expert, 64-column slice of I)
# items, GEMM0 -> act -> GEMM1 partial, the last block to arrive sums the partials in a fixed
# order; no grid barrier, no waits). Predicted: tiny layer kernel 34 -> ~12 us, host-inclusive
# forward_device 38 -> ~16 us, graph replay 37 -> ~14 us; T = 1 at H = I = 2048 even or slower
# (fewer blocks stream the weights: 64 at E = 8). Suites with lean by default and with it off.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -8; }
t L X=1 test-test-lean_forward
grep -E "rel_err" /tmp/o/t-L-test-test-lean_forward-X.log | cut -c1-220 | head -16
t L X=1 test-test-forward_graph
grep -iE "per forward|host|replay" /tmp/o/t-L-test-test-forward_graph-X.log | cut -c1-300 | head -12
t L X=1 test-test-moe_single_gpu
t L FLASHMOE_TEST_LEAN=0 test-test-moe_single_gpu
t L X=1 test-test-moe_reliability
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 4 --hidden 256 --inter 256 --experts 8" "--tokens 1 --experts 8" "--tokens 2 --experts 8" "--tokens 1 --experts 64" "--tokens 4 --experts 64" "--tokens 1 --experts 128" "--tokens 1 --experts 64 --gated --activation silu" "--tokens 1 --hidden 2048 --inter 768 --experts 128 --top-k 8 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in lean no-lean; do
    timeout -k 2 60 /tmp/p/L/bin-bin-flashmoe run --gpus 1 $cfg --$v --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
for tool in memcheck racecheck synccheck; do
  timeout -k 2 90 compute-sanitizer --tool $tool /tmp/p/LSAN/bin-bin-flashmoe run --gpus 1 --lean --tokens 3 --hidden 256 --inter 320 --experts 8 --gated --bias --activation silu --timeout-ms 120000 --verify-tokens 3 --iters 2 > /tmp/o/s-$tool.log 2>&1
  echo "=== LSAN $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Error:|Race reported" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
done
echo "=== elapsed ${SECONDS}s"
