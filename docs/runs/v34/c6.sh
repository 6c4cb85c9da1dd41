#!/bin/bash
# v34 c6 (1 GPU). F = branch lean, final (the heuristic takes the lean kernel where an item
# streams <= 128 KiB). Every single-GPU suite: lean_forward on both builds (sm_90a, sm_80),
# moe_single_gpu by default, with the lean kernel wherever it runs, and on ws; reliability,
# graphs (host time per forward), shared experts, ws_forward, smoke, the HF layers with
# transformers' conformance cases. Then lean vs not on four layers, which kernel the default
# takes, and compute-sanitizer (memcheck, racecheck, synccheck) on the final lean kernel.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -8; }
t F X=1 test-test-lean_forward
t F FLASHMOE_TEST_ARCH=sm_80 test-test-lean_forward
t F X=1 test-test-moe_single_gpu
t F FLASHMOE_TEST_LEAN=1 test-test-moe_single_gpu
t F FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t F X=1 test-test-moe_reliability
t F FLASHMOE_TEST_LEAN=0 test-test-moe_reliability
t F X=1 test-test-forward_graph
grep -iE "  (forward_device|graph replay|empty)|moe_lean|moe_forward" /tmp/o/t-F-test-test-forward_graph-X.log | cut -c1-170 | head -8
t F X=1 test-test-moe_shared_expert
t F X=1 test-test-ws_forward
t F X=1 test-test-gpu_smoke
timeout 150 python3 benches/hf_conformance.py --out /tmp/hfc > /tmp/o/hfc.log 2>&1; echo "hf_conformance.py rc=$? at ${SECONDS}s"; tail -1 /tmp/o/hfc.log
t F FLASHMOE_HF_CONFORMANCE=/tmp/hfc test-test-hf_layers "" 150
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
ker() { grep -oP "forwards of T=[0-9]+ run \K(moe_[a-z0-9_]+)" /tmp/r.log || echo ":layer-engine"; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 2 --hidden 512 --inter 512 --experts 64" "--tokens 1 --hidden 256 --inter 256 --experts 64 --gated --activation silu --bias" "--tokens 1 --hidden 1024 --inter 1024 --experts 8"; do
  line="[$cfg]"; for rep in 1 2; do for v in default no-lean; do x=""; [ $v = no-lean ] && x=--no-lean
    timeout -k 2 60 /tmp/p/F/bin-bin-flashmoe run --gpus 1 $cfg $x --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)$(ker)"; done; done; echo "$line"; done
for tool in memcheck racecheck synccheck; do
  timeout -k 2 90 compute-sanitizer --tool $tool /tmp/p/FSAN/bin-bin-flashmoe run --gpus 1 --lean --tokens 3 --hidden 256 --inter 320 --experts 8 --gated --bias --activation silu --timeout-ms 120000 --verify-tokens 3 --iters 2 > /tmp/o/s-$tool.log 2>&1
  echo "=== FSAN $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Error:|Race reported" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
done
echo "=== elapsed ${SECONDS}s"
