#!/bin/bash
# v35 c4 (1 GPU). S1 = branch lean-sweep, first build: the lean kernel's sweep (every block
# routes, the grid's warps stream the chosen experts' W1/W3 rows, a barrier, W2 rows, a
# barrier, the combine). Tests; sweep vs the default (static plan / lean) on decode layers with
# timelines; compute-sanitizer on a small sweep.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
t S1 X=1 test-test-lean_forward
grep -E "rel_err" /tmp/o/t-S1-test-test-lean_forward-X.log | grep -E "H=(2048|1024|192|512|4096|256) I=(2048|1536|320|256|704|8192)" | cut -c1-230 | tail -8
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
ker() { grep -oP "forwards of T=[0-9]+ run \K(moe_[a-z0-9_]+ \([0-9]+)" /tmp/r.log || echo "layer-engine"; }
for cfg in "--tokens 1 --hidden 2048 --inter 2048 --experts 8" "--tokens 4 --hidden 2048 --inter 2048 --experts 64" "--tokens 1 --hidden 1536 --inter 1536 --experts 8" "--tokens 1 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu" "--tokens 4 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in sweep default; do x="--lean-sweep"; [ $v = default ] && x=""
    timeout -k 2 90 /tmp/p/S1/bin-bin-flashmoe run --gpus 1 $cfg $x --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)($(ker))"; done; done; echo "$line"; grep -E "rror" /tmp/r.log | head -3; done
for cfg in "--tokens 1 --hidden 2048 --inter 2048 --experts 8" "--tokens 1 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu"; do
  timeout -k 2 90 /tmp/p/S1/bin-bin-flashmoe run --gpus 1 $cfg --lean-sweep --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- sweep timeline [$cfg] $(med)"; grep -E "^  (logits|routing|barrier|first|last|exit)" /tmp/r.log; done
for tool in memcheck racecheck synccheck; do
  timeout -k 2 90 compute-sanitizer --tool $tool /tmp/p/S1SAN/bin-bin-flashmoe run --gpus 1 --lean-sweep --max-blocks 6 --tokens 3 --hidden 256 --inter 320 --experts 12 --gated --bias --activation silu --timeout-ms 120000 --verify-tokens 3 --iters 2 > /tmp/o/s-$tool.log 2>&1
  echo "=== S1SAN $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass $(grep -oP 'run \Kmoe_[a-z0-9_]+ \([0-9]+' /tmp/o/s-$tool.log)"
  grep -E "Error:|Race reported" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -3
done
echo "=== elapsed ${SECONDS}s"
