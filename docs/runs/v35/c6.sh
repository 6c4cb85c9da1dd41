#!/bin/bash
# v35 c6 (1 GPU). SF = branch lean-sweep, final: S1's sweep (c5's wider form reverted), taken by
# default for <= 8 experts, <= 2 tokens and <= 64 MiB of chosen weights the items do not take.
# Every single-GPU suite by default and with the sweep forced (FLASHMOE_TEST_LEAN_SWEEP=1), the
# HF layers; sweep vs not on the layers the heuristic decides.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
t SF X=1 test-test-lean_forward
t SF FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t SF FLASHMOE_TEST_ARCH=sm_80 test-test-lean_forward
t SF X=1 test-test-moe_single_gpu
t SF FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_single_gpu
t SF FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_reliability
t SF X=1 test-test-moe_reliability
t SF FLASHMOE_TEST_LEAN_SWEEP=1 test-test-forward_graph
t SF X=1 test-test-forward_graph
grep -iE "  (forward_device|graph replay|kernel)" /tmp/o/t-SF-test-test-forward_graph-X.log | cut -c1-140 | head -3
t SF X=1 test-test-ws_forward
t SF X=1 test-test-moe_shared_expert
t SF X=1 test-test-gpu_smoke
timeout 150 python3 benches/hf_conformance.py --out /tmp/hfc > /tmp/o/hfc.log 2>&1; echo "hf_conformance.py rc=$? at ${SECONDS}s"
t SF FLASHMOE_HF_CONFORMANCE=/tmp/hfc test-test-hf_layers
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
ker() { grep -oP "forwards of T=[0-9]+ run \K(moe_[a-z0-9_]+ \([0-9]+)" /tmp/r.log || echo "layer-engine"; }
for cfg in "--tokens 1 --hidden 2048 --inter 2048 --experts 8" "--tokens 2 --hidden 2048 --inter 2048 --experts 8" "--tokens 1 --hidden 1536 --inter 1536 --experts 8 --gated --activation silu" "--tokens 2 --hidden 1024 --inter 1024 --experts 8" "--tokens 1 --hidden 2048 --inter 2048 --experts 4 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in default no-lean-sweep; do x="--$v"; [ $v = default ] && x=""
    timeout -k 2 90 /tmp/p/SF/bin-bin-flashmoe run --gpus 1 $cfg $x --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; [ $rep = 1 ] && line="$line($(ker))"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
