#!/bin/bash
# v34 c8 (1 GPU). H = branch lean, final: the gate's 32 sums (8 experts x 4 tokens) of a warp
# in one transposing butterfly of 31 shuffles (c7: 8 experts a warp with a butterfly each, in
# predicated code, cost the tiny layer 2 us); `heuristics::lean` by the reduced bytes (<= 32 KiB)
# and the gate bytes (<= 64 KiB). Suites; lean vs the static plan (the default's kernel named);
# host time per forward; compute-sanitizer on the final lean kernel.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c8.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -8; }
t H X=1 test-test-lean_forward
t H FLASHMOE_TEST_ARCH=sm_80 test-test-lean_forward
t H X=1 test-test-moe_single_gpu
t H FLASHMOE_TEST_LEAN=1 test-test-moe_single_gpu
t H X=1 test-test-moe_reliability
t H X=1 test-test-ws_forward
t H X=1 test-test-forward_graph
grep -iE "  (forward_device|graph replay|empty kernel, plain)" /tmp/o/t-H-test-test-forward_graph-X.log | cut -c1-170
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
ker() { grep -oP "forwards of T=[0-9]+ run \K(moe_[a-z0-9_]+)" /tmp/r.log || echo "layer-engine"; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 4 --hidden 256 --inter 256 --experts 8" "--tokens 1 --hidden 256 --inter 256 --experts 128" "--tokens 1 --hidden 256 --inter 256 --experts 256" "--tokens 2 --hidden 512 --inter 512 --experts 64" "--tokens 1 --hidden 512 --inter 512 --experts 8 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in lean no-lean default; do x="--$v"; [ $v = default ] && x=""
    timeout -k 2 60 /tmp/p/H/bin-bin-flashmoe run --gpus 1 $cfg $x --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; [ $v = default ] && line="$line($(ker))"; done; done; echo "$line"; done
for tool in memcheck racecheck synccheck; do
  timeout -k 2 90 compute-sanitizer --tool $tool /tmp/p/HSAN/bin-bin-flashmoe run --gpus 1 --lean --tokens 3 --hidden 256 --inter 320 --experts 12 --gated --bias --activation silu --timeout-ms 120000 --verify-tokens 3 --iters 2 > /tmp/o/s-$tool.log 2>&1
  echo "=== HSAN $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Error:|Race reported" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
done
echo "=== elapsed ${SECONDS}s"
