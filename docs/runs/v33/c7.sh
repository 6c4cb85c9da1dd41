#!/bin/bash
# v33 c7 (nvidia-h200-x2). The store-at-full change as it would merge (branch store-at-full,
# cleaned: the producer's store at refill and the `refill` hook removed, the consumer's words a
# typed `smem::ws::StreamStore`). SN = its NVSHMEM build: every suite that runs the ws engine or
# more than one GPU (multiprocess 4/4 with one process per GPU, moe_multi_gpu on 2 GPUs,
# nvshmem_forward, ws_forward, moe_single_gpu on ws, moe_reliability, forward_graph). Then S3 (its
# ordinary build) beside M (main) on one GPU, output hashes compared.
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c7.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
export NVSHMEM_HOME=$(python3 -c "import nvidia, os; print([os.path.join(p,'nvshmem') for p in nvidia.__path__ if os.path.isdir(os.path.join(p,'nvshmem'))][0])")
export FLASHMOE_BIN=/tmp/p/SN/bin-bin-flashmoe
t() { local s=$SECONDS; env $3 timeout -k 2 $2 /tmp/p/SN/$1 --include-ignored --test-threads=1 --nocapture > /tmp/t.log 2>&1; echo "=== $1 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|error:" /tmp/t.log | cut -c1-200 | head -8; cp /tmp/t.log /tmp/o/$1.log; }
t test-test-multiprocess 240 X=1
t test-test-moe_multi_gpu 180 X=1
t test-test-nvshmem_forward 90 CUDA_VISIBLE_DEVICES=0
t test-test-ws_forward 90 CUDA_VISIBLE_DEVICES=0
t test-test-moe_single_gpu 150 FLASHMOE_TEST_MAINLOOP=ws
t test-test-moe_reliability 150 X=1
t test-test-forward_graph 150 X=1
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do
  line="[$cfg]"; for rep in 1 2; do for v in M S3; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)$(hsh)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
