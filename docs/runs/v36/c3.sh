#!/bin/bash
# v36 c3 (1 GPU). B = the sweep ring filled by bulk copies on sm_90a (lane 0 issues one
# cp.async.bulk a matrix a piece, completing on the stage's mbarrier; sm_80 keeps c2's per-lane
# cp.async), with c2's feeds (W2 streamed from before the grid barrier). M = main 3806a5a
# (register loads). Tests with the sweep forced, by default, and sm_80; M vs B sweep vs the
# default with output hashes (expected bitwise equal); timelines; the read probe;
# compute-sanitizer on small sweeps (one with two h chunks).
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
t B FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t B X=1 test-test-lean_forward
t B FLASHMOE_TEST_ARCH=sm_80 test-test-lean_forward
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
for cfg in "--tokens 1 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu" "--tokens 1 --hidden 2048 --inter 2048 --experts 8" "--tokens 3 --hidden 2048 --inter 2048 --experts 8" "--tokens 1 --hidden 1536 --inter 1536 --experts 8 --gated --activation silu" "--tokens 1 --hidden 4096 --inter 4096 --experts 8" "--tokens 1 --hidden 2048 --inter 2048 --experts 16" "--tokens 2 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in M:--lean-sweep B:--lean-sweep B:--no-lean-sweep; do
    timeout -k 2 90 /tmp/p/${v%%:*}/bin-bin-flashmoe run --gpus 1 $cfg ${v#*:} --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line ${v%%:*}${v#*:--}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; done; done; echo "$line"; grep -E "rror" /tmp/r.log | head -3; done
for cfg in "--tokens 1 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu" "--tokens 1 --hidden 2048 --inter 2048 --experts 8"; do for b in M B; do
  timeout -k 2 90 /tmp/p/$b/bin-bin-flashmoe run --gpus 1 $cfg --lean-sweep --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- $b sweep timeline [$cfg] $(med)"; grep -E "^  (logits|routing|barrier|first|last|exit)" /tmp/r.log; done; done
timeout -k 2 60 /tmp/p/B/bin-bin-flashmoe info --mib 1024 2>&1 | grep -iE "read|GB/s|TB/s" | head -12
for args in "--tokens 3 --hidden 256 --inter 320 --experts 12 --gated --bias --activation silu" "--tokens 4 --hidden 256 --inter 8192 --experts 2 --top-k 2 --bias"; do
for tool in memcheck racecheck synccheck; do
  timeout -k 2 120 compute-sanitizer --tool $tool /tmp/p/BSAN/bin-bin-flashmoe run --gpus 1 --lean-sweep --max-blocks 6 $args --timeout-ms 120000 --verify-tokens 3 --iters 2 > /tmp/o/s-$tool.log 2>&1
  echo "=== BSAN $tool [$args] rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass $(grep -oP 'run \Kmoe_[a-z0-9_]+ \([0-9]+' /tmp/o/s-$tool.log)"
  grep -E "Error:|Race reported" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -3
done; done
t B FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_single_gpu 200
t B FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_reliability 150
echo "=== elapsed ${SECONDS}s"
