#!/bin/bash
# Next session, call 1 (1 GPU), prepared in session 19 (not run). Pack with /tmp/pack.sh:
#   M = main, A = branch rcp-approx, W = branch wide-64, E = branch empty-per-warp (the CLI and the
#   suites named below). A: single-GPU suites (both engines) + HF conformance; W: single-GPU suites;
#   E: the ws suites and the standalone ws tile; then A/B of each against M. SAN = main built with
#   FLASHMOE_SANITIZE=1 (CARGO_TARGET_DIR=/work/tgt-san): compute-sanitizer on the warp-local
#   epilogue (v26 merged it without a sanitizer run).
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/next1.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-120} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-300 | head -8; }
t A X=1 test-test-moe_single_gpu
t A FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t A X=1 test-test-ws_forward
timeout 150 python3 benches/hf_conformance.py --out /tmp/hfc > /tmp/o/hfc.log 2>&1; echo "hf_conformance.py rc=$?"
t A FLASHMOE_HF_CONFORMANCE=/tmp/hfc test-test-hf_layers
t W X=1 test-test-moe_single_gpu
t W X=1 test-test-forward_graph
t E X=1 test-test-ws_tile
t E X=1 test-test-ws_forward
t E FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t E FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0 --tokens 4096"
for cfg in "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 8192 --experts 64 --gated --activation gelu" "--tokens 16384 --experts 32" "--tokens 1 --experts 8 --gated --activation silu" "$X"; do
  line="[$cfg]"; for rep in 1 2; do for v in M A E; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
for cfg in "--tokens 256 --experts 8" "--tokens 4096 --experts 128" "--tokens 2048 --experts 64" "--tokens 256 --experts 8 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in M W; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
B=/tmp/p/SAN/bin-bin-flashmoe
i=0; for cfg in "--hidden 256 --inter 1024 --experts 4 --tokens 512 --gated --activation silu" "--hidden 512 --inter 1024 --experts 4 --tokens 700 --top-k 3"; do
  for tool in memcheck synccheck racecheck; do i=$((i+1))
    timeout -k 2 150 compute-sanitizer --tool $tool $B run --gpus 1 --mainloop ws --max-blocks 4 $cfg --timeout-ms 120000 --verify-tokens 4 --iters 1 > /tmp/o/s$i.log 2>&1
    echo "=== $tool [$cfg] rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s$i.log | tail -1) $(grep -c PASS /tmp/o/s$i.log) pass"
    grep -E "Race reported|Error:" /tmp/o/s$i.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
  done
done
echo "=== elapsed ${SECONDS}s"
