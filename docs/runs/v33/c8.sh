#!/bin/bash
# v33 c8 (1 GPU). Main with the stream-store change (21751f1): the single-GPU sweep beside its
# baselines in the same run (cuBLAS ideal, torch._grouped_mm on the routed rows), and a timeline
# of 16384/32.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c8.tar.xz -C /tmp/p
export FLASHMOE_BASELINE=$PWD/benches/baseline_torch.py CUDA_VISIBLE_DEVICES=0
mkdir -p /tmp/p/bench && cd /tmp/p/bench
timeout -k 5 150 /tmp/p/MAIN/bin-bin-flashmoe bench --sweeps single > /tmp/p/bench.log 2>&1; echo "single rc=$? at ${SECONDS}s"
grep -vE "^\s*$|^flashmoe T=" /tmp/p/bench.log | tail -16
cp /tmp/p/bench/*.csv $OUT/ 2>/dev/null
timeout -k 2 90 /tmp/p/MAIN/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 4 --iters 10 --timeline > /tmp/r.log 2>&1; grep -E "forward:|median|per GEMM|processors|streamed|consumer 0" /tmp/r.log
echo "=== elapsed ${SECONDS}s"
