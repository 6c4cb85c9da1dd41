#!/bin/bash
# session 10, call 4 (2 GPUs): a rank that dies mid-run, with the NVSHMEM library kept loaded after abandoned collectives
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/b.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
N=/tmp/p/N
export NVSHMEM_HOME=$(python3 -c "import nvidia, os; print([os.path.join(p,'nvshmem') for p in nvidia.__path__ if os.path.isdir(os.path.join(p,'nvshmem'))][0])")
export FLASHMOE_BIN=$N/bin-bin-flashmoe
s=$SECONDS; timeout -k 2 240 $N/bin-bin-flashmoe launch --nproc-per-node 2 -- $N/bin-bin-flashmoe run --tokens 64 --experts 8 --hidden 128 --inter 128 --iters 0 > /tmp/o/warm.log 2>&1; echo "warm-up rc=$? in $((SECONDS-s))s $(grep -c PASS /tmp/o/warm.log)pass"
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $N/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|killed|error|exited|^test .*FAIL|transport .* rank" /tmp/t.log | cut -c1-300 | head -14; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-multiprocess a_rank_that_dies 120
t X=1 test-test-multiprocess a_dropped_flag 150
t X=1 test-test-multiprocess one_process 200
t X=1 test-test-nvshmem_forward "" 90
echo "=== elapsed $SECONDS"
