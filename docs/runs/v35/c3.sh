#!/bin/bash
# v35 c3 (1 GPU). F = branch lean-dense, final (forced dense falls back to routed where it does
# not fit). Every single-GPU suite touched by the lean kernel, the HF layers with transformers'
# cases, then dense / routed / static plan on the c13 layers with the default's choice named.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -8; }
t F X=1 test-test-lean_forward
t F FLASHMOE_TEST_LEAN_DENSE=1 test-test-lean_forward
t F FLASHMOE_TEST_LEAN_DENSE=0 test-test-lean_forward
t F FLASHMOE_TEST_ARCH=sm_80 test-test-lean_forward
t F X=1 test-test-moe_single_gpu
t F FLASHMOE_TEST_LEAN=1 test-test-moe_single_gpu
t F X=1 test-test-moe_reliability
t F FLASHMOE_TEST_LEAN=1 test-test-moe_reliability
t F X=1 test-test-forward_graph
grep -iE "host time per|  (forward_device|graph replay|kernel|empty)" /tmp/o/t-F-test-test-forward_graph-X.log | cut -c1-170 | head -9
t F X=1 test-test-moe_shared_expert
t F X=1 test-test-ws_forward
t F X=1 test-test-gpu_smoke
timeout 150 python3 benches/hf_conformance.py --out /tmp/hfc > /tmp/o/hfc.log 2>&1; echo "hf_conformance.py rc=$? at ${SECONDS}s"; tail -1 /tmp/o/hfc.log
t F FLASHMOE_HF_CONFORMANCE=/tmp/hfc test-test-hf_layers
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
ker() { grep -oP "forwards of T=[0-9]+ run \K(moe_[a-z0-9_]+)" /tmp/r.log || echo "layer-engine"; }
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 4 --hidden 256 --inter 256 --experts 8" "--tokens 1 --hidden 256 --inter 256 --experts 128" "--tokens 1 --hidden 256 --inter 256 --experts 256" "--tokens 2 --hidden 512 --inter 512 --experts 64" "--tokens 1 --hidden 512 --inter 512 --experts 8 --gated --activation silu" "--tokens 4 --hidden 512 --inter 512 --experts 8" "--tokens 1 --hidden 1024 --inter 1024 --experts 8" "--tokens 2 --hidden 1024 --inter 1024 --experts 4 --top-k 1"; do
  line="[$cfg]"; for rep in 1 2; do for v in default lean-dense no-lean-dense no-lean; do x="--lean --$v"; [ $v = default ] && x=""; [ $v = no-lean ] && x="--no-lean"
    timeout -k 2 60 /tmp/p/F/bin-bin-flashmoe run --gpus 1 $cfg $x --verify-tokens 4 --iters 50 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; [ $v = default ] && [ $rep = 1 ] && line="$line($(ker) $(grep -oP '\(\K[0-9]+(?= blocks per GPU)' /tmp/r.log | head -1))"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
