#!/bin/bash
# v37 c8 (1 GPU). B2 = main with the sweep before the lean items past 4 MiB of chosen weights
# (heuristics::sweep_before_items). The suites by default, and the defaults at the border.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c8.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
runs() { grep -oP "run \K\S+(?= \()" /tmp/r.log | head -1; }
t B2 X=1 test-test-lean_forward
t B2 X=1 test-test-ws_forward
t B2 X=1 test-test-forward_graph
grep -iE "  (forward_device|graph replay|kernel)" /tmp/o/t-B2-test-test-forward_graph-X.log | cut -c1-140 | head -3
t B2 X=1 test-test-moe_single_gpu 200
for cfg in "--tokens 1 --hidden 1024 --inter 1024 --experts 8 --gated --activation silu" "--tokens 1 --hidden 1024 --inter 1024 --experts 64" "--tokens 1 --hidden 512 --inter 512 --experts 64" "--tokens 1 --hidden 256 --inter 256 --experts 8"; do
  timeout -k 2 60 /tmp/p/B2/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 2 --iters 50 > /tmp/r.log 2>&1; echo "[$cfg] default=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)($(runs))"; done
echo "=== elapsed ${SECONDS}s"
