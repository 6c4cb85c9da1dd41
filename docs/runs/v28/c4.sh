#!/bin/bash
# v28 c4 (nvidia-h200-x2): branch mp-ws (c87af17 = main 0cf8b7e + one process per GPU on the ws
# engine by default), NVSHMEM build. The multi-process suite (now with a 256-rows-per-expert case
# on ws, bitwise against one process), moe_multi_gpu, nvshmem_forward; then one process per GPU
# against one process at 16384/32 and 8192/32 per GPU (issue 13: <= 3% slower).
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
N=/tmp/p/N
export NVSHMEM_HOME=$(python3 -c "import nvidia, os; print([os.path.join(p,'nvshmem') for p in nvidia.__path__ if os.path.isdir(os.path.join(p,'nvshmem'))][0])")
export FLASHMOE_BIN=$N/bin-bin-flashmoe
nvidia-smi --query-gpu=index,name --format=csv,noheader
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $N/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL" /tmp/t.log | cut -c1-220 | head -12; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-multiprocess "" 240
t X=1 test-test-moe_multi_gpu "" 150
t X=1 test-test-nvshmem_forward "" 60
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 32"; do
for v in "run --gpus 2" "launch --nproc-per-node 2 -- $N/bin-bin-flashmoe run" "run --gpus 2" "launch --nproc-per-node 2 -- $N/bin-bin-flashmoe run"; do
  timeout -k 2 90 $N/bin-bin-flashmoe $v $cfg --iters 30 --verify-tokens 4 > /tmp/r.log 2>&1
  echo "rc=$? [$cfg] [${v%% --*}]: $(grep -oP 'forward: median \K[0-9.]+' /tmp/r.log | tr '\n' ' ') ms $(grep -c PASS /tmp/r.log)pass $(grep -ciE 'error|panic' /tmp/r.log)err $(grep -oP 'moe_forward_\w+' /tmp/r.log | sort -u | tr '\n' ' ')"
done; done
cp /tmp/r.log /tmp/o/mp-run.log
echo "=== elapsed $SECONDS"
