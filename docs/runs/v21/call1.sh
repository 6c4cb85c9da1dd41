#!/bin/bash
# next session, call 1 (1 GPU): branch fused-combine at dab24c9 (B = main b37f8a5 + the combine fused into GEMM1 with
# bulk copies; M = main 481c990, before GEMM0's A-row helper). Suites on both engines and the bitwise test; A/B
# fused vs --no-fused-combine (same binary: main's path) vs M; timelines; memcheck on the standalone ws tile.
# Merge the branch only if not slower; b37f8a5 (on main, NOT GPU-run) is checked by the default-engine suite and B vs M.
# Last: the three sanitizer tools on ws with S (main 6d7cfd0 built with FLASHMOE_SANITIZE=1).
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/next.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
K=/tmp/p/B; B=$K/bin-bin-flashmoe
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $K/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL|case [0-9]+ T=[0-9]+ fused=true" /tmp/t.log | cut -c1-160 | head -14; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-ws_forward "" 90
t X=1 test-test-moe_single_gpu "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability "" 150
t FLASHMOE_TEST_MAINLOOP=ws test-test-forward_graph "" 90
med() { grep -oP "forward: median \K[0-9.]+ ms \(min [0-9.]+\)" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"; X="--hidden 4096 --inter 14336 --experts 8"
i=0
for cfg in "--tokens 16384 --experts 32" "$G --tokens 16384 --experts 32" "--tokens 8192 --experts 64" "$G --tokens 8192 --experts 64" "--tokens 8192 --experts 32" "--tokens 4096 --experts 128" "$G $X --tokens 4096"; do for rep in 1 2; do for v in "B" "B --no-fused-combine" "M"; do i=$((i+1)); set -- $v
  timeout -k 2 90 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $cfg ${2:-} --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] $v: rc=$? $(med) $(grep -c PASS /tmp/r.log)pass $(grep -oP 'output hash, rank 0: \K\S+' /tmp/r.log)"; cp /tmp/r.log /tmp/o/run-$i.log; done; done; done
echo "=== A/B done at ${SECONDS}s"
for v in "" "--no-fused-combine"; do timeout -k 2 60 $B run --gpus 1 --tokens 16384 --experts 32 $v --verify-tokens 1 --iters 5 --timeline > /tmp/o/timeline${v}.log 2>&1; echo "timeline ${v:-fused} rc=$?"; grep -E "last task end|exit  |OS block|processors" /tmp/o/timeline${v}.log; done
timeout -k 2 45 compute-sanitizer --tool memcheck --print-limit 5 $K/test-test-ws_tile --include-ignored --test-threads=1 > /tmp/o/san-ws-tile.log 2>&1; echo "memcheck ws_tile rc=$? $(grep -E 'ERROR SUMMARY|test result' /tmp/o/san-ws-tile.log | tr '\n' ' ')"
# S = main 6d7cfd0 built with FLASHMOE_SANITIZE=1 (ws entries without setmaxnreg): does memcheck now finish on ws?
for tool in memcheck racecheck synccheck; do s=$SECONDS
  timeout -k 2 50 compute-sanitizer --tool $tool --print-limit 5 /tmp/p/S/bin-bin-flashmoe run --gpus 1 --tokens 300 --experts 8 --hidden 256 --inter 256 --gated --bias --mainloop ws --max-blocks 4 --iters 1 --verify-tokens 4 > /tmp/o/san-S-$tool.log 2>&1; echo "$tool ws (sanitize build) rc=$? in $((SECONDS-s))s: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|PASS|FAIL' /tmp/o/san-S-$tool.log | tr '\n' ' ')"; done
echo "=== elapsed ${SECONDS}s"
