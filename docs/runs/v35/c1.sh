#!/bin/bash
# v35 c1 (1 GPU). D1 = branch lean-dense: the lean kernel's dense launch (block 0 routes while a
# block per (expert, slice) item runs every token) against the routed launch (main's), same
# binary: suites, host time of the tiny layer, kernel A/B, compute-sanitizer on dense launches.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -8; }
t D1 X=1 test-test-lean_forward
grep -E "dense (true|false)" /tmp/o/t-D1-test-test-lean_forward-X.log | cut -c1-200 | head -12
t D1 FLASHMOE_TEST_LEAN_DENSE=0 test-test-lean_forward
t D1 FLASHMOE_TEST_LEAN=1 test-test-moe_single_gpu
for rep in 1 2; do for d in 1 0; do
  FLASHMOE_TEST_LEAN_DENSE=$d timeout -k 2 120 /tmp/p/D1/test-test-forward_graph host_time --include-ignored --nocapture > /tmp/o/g.log 2>&1
  echo "=== forward_graph dense=$d rc=$?"; grep -E "host time per|forward_device|graph replay|kernel|empty kernel, plain|empty kernel, coop.*graph" /tmp/o/g.log | cut -c1-150
done; done
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 4 --hidden 256 --inter 256 --experts 8" "--tokens 1 --hidden 256 --inter 256 --experts 32" "--tokens 2 --hidden 512 --inter 512 --experts 8 --gated --activation silu" "--tokens 1 --hidden 512 --inter 512 --experts 16" "--tokens 1 --hidden 1024 --inter 1024 --experts 8" "--tokens 4 --hidden 512 --inter 512 --experts 8 --bias"; do
  line="[$cfg]"; for rep in 1 2; do for v in lean-dense no-lean-dense; do
    timeout -k 2 60 /tmp/p/D1/bin-bin-flashmoe run --gpus 1 $cfg --lean --$v --verify-tokens 4 --iters 50 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
for tokens in 1 3; do for tool in memcheck racecheck synccheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool /tmp/p/D1SAN/bin-bin-flashmoe run --gpus 1 --lean --lean-dense --tokens $tokens --hidden 256 --inter 320 --experts 12 --gated --bias --activation silu --timeout-ms 120000 --verify-tokens $tokens --iters 2 > /tmp/o/s-$tool.log 2>&1
  echo "=== D1SAN T=$tokens $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Error:|Race reported" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -3
done; done
echo "=== elapsed ${SECONDS}s"
