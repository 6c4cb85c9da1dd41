#!/bin/bash
# v36 c4 (1 GPU; c3 was lost with its machine). M = main 3806a5a (register loads), B = the sweep
# ring filled by bulk copies on sm_90a (c3's build), M2 = main with GEMM1 taking two W2 columns a
# warp at once (16 vectors in flight a lane, one h load for both). Kernel ms and output hashes
# (expected bitwise equal) for M, B, M2 with the sweep forced and M's default; timelines; tests
# with the sweep forced; compute-sanitizer on small sweeps (one with two h chunks).
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader
for cfg in "--tokens 1 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu" "--tokens 2 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu" "--tokens 1 --hidden 2048 --inter 2048 --experts 8" "--tokens 3 --hidden 2048 --inter 2048 --experts 8" "--tokens 1 --hidden 1536 --inter 1536 --experts 8 --gated --activation silu" "--tokens 1 --hidden 4096 --inter 4096 --experts 8" "--tokens 1 --hidden 2048 --inter 2048 --experts 16"; do
  line="[$cfg]"; for rep in 1 2; do for v in M:--lean-sweep B:--lean-sweep M2:--lean-sweep M:--no-lean-sweep; do
    timeout -k 2 90 /tmp/p/${v%%:*}/bin-bin-flashmoe run --gpus 1 $cfg ${v#*:} --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line ${v%%:*}${v#*:--}=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; done; done; echo "$line"; grep -E "rror" /tmp/r.log | head -3; done
echo "=== bench done ${SECONDS}s"
for b in M B M2; do
  timeout -k 2 90 /tmp/p/$b/bin-bin-flashmoe run --gpus 1 --tokens 1 --hidden 4096 --inter 14336 --experts 8 --gated --activation silu --lean-sweep --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- $b sweep timeline Mixtral T=1 $(med)"; grep -E "^  (logits|routing|barrier|first|last|exit)" /tmp/r.log; done
for b in M2 B; do
  t $b FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
  t $b FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_single_gpu 200
done
t B FLASHMOE_TEST_ARCH=sm_80 test-test-lean_forward
echo "=== tests done ${SECONDS}s"
for s in M2SAN BSAN; do
for args in "--tokens 3 --hidden 256 --inter 320 --experts 12 --gated --bias --activation silu" "--tokens 4 --hidden 256 --inter 8192 --experts 2 --top-k 2 --bias"; do
for tool in memcheck racecheck synccheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool /tmp/p/$s/bin-bin-flashmoe run --gpus 1 --lean-sweep --max-blocks 6 $args --timeout-ms 60000 --verify-tokens 3 --iters 2 > /tmp/o/s-$tool.log 2>&1
  echo "=== $s $tool [$args] rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Error:|Race reported" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -3
done; done; done
t M2 FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_reliability 150
echo "=== elapsed ${SECONDS}s"
