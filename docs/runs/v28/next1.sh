#!/bin/bash
# Next session, call 1 (1 GPU), prepared in session 21 (not run). Pack (from /work/main):
#   bash docs/runs/v28/pack.sh M                                   (main: the CLI)
#   git checkout route-consumers && bash docs/runs/v28/pack.sh R ws_forward moe_single_gpu moe_reliability forward_graph
#   FLASHMOE_SANITIZE=1 CARGO_TARGET_DIR=/work/tgt-san cargo build --release -p flashmoe-tools --bin flashmoe
#     (with FLASHMOE_REQUIRE_PTXAS=1 FLASHMOE_CUBIN=1 FLASHMOE_PTXAS=...), copied to /tmp/gpuws_p/SAN/bin-bin-flashmoe
#   tar cJf .gpuws/next1.tar.xz -C /tmp/gpuws_p M R SAN
# (docs/runs/v28/pack.sh, also at /tmp/pack.sh: builds the CLI and the named tests of the working tree into /tmp/gpuws_p/DIR,
# stripped, with ptxas cubins.)
# R: the ws consumers' eight warps route while warpgroup 0 waits (it routed alone: 49.9 us at
# 16384/128, 11-13 us at 16384/32, 8192/64, 4096/128; perf log v28 c3). Predicted: routing about
# halves (16384/128 -25 us = -1.7%; 8192/64, 4096/128 -6 us = -0.9%). Merge if the suites and the
# sanitizer pass and no layer is slower. New: named barriers 5 and 6, non-finite inputs deferred.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/next1.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-300 | head -8; }
t R X=1 test-test-ws_forward
t R FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t R FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability
t R X=1 test-test-forward_graph
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 128" "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in M R; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
for cfg in "--tokens 16384 --experts 128" "--tokens 8192 --experts 64"; do for v in M R; do
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 5 --timeline > /tmp/r.log 2>&1; echo "--- $v timeline [$cfg] $(med)"; sed -n '/timeline of/,$p' /tmp/r.log | sed -n '2,7p'; done; done
B=/tmp/p/SAN/bin-bin-flashmoe
i=0; for cfg in "--hidden 256 --inter 1024 --experts 4 --tokens 512 --gated --activation silu" "--hidden 512 --inter 1024 --experts 64 --tokens 2048 --top-k 3"; do
  for tool in memcheck synccheck racecheck; do i=$((i+1))
    timeout -k 2 150 compute-sanitizer --tool $tool $B run --gpus 1 --mainloop ws --max-blocks 4 $cfg --timeout-ms 120000 --verify-tokens 4 --iters 1 > /tmp/o/s$i.log 2>&1
    echo "=== $tool [$cfg] rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s$i.log | tail -1) $(grep -c PASS /tmp/o/s$i.log) pass"
    grep -E "Race reported|Error:" /tmp/o/s$i.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
  done
done
echo "=== elapsed ${SECONDS}s"
