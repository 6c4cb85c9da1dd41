#!/bin/bash
# session 14, call 6 (2 GPUs): main 6aa4b5d (NVSHMEM build) on two GPUs: b37f8a5 (GEMM0's A-row helper, peers' rows
# from the dispatch region) had run on one GPU only. moe_multi_gpu on both engines, nvshmem_forward, the
# multiprocess suite (stores and puts, a dying rank, a dropped flag), 2-GPU runs with the f64 check.
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/m3.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
N=/tmp/p/M3
export NVSHMEM_HOME=$(python3 -c "import nvidia, os; print([os.path.join(p,'nvshmem') for p in nvidia.__path__ if os.path.isdir(os.path.join(p,'nvshmem'))][0])")
export FLASHMOE_BIN=$N/bin-bin-flashmoe
nvidia-smi --query-gpu=index,name --format=csv,noheader
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $N/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL|transport .* rank" /tmp/t.log | cut -c1-220 | head -12; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-moe_multi_gpu "" 120
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_multi_gpu "" 120
t X=1 test-test-nvshmem_forward "" 90
t X=1 test-test-multiprocess "" 200
for v in "" "--mainloop ws" "--mainloop ws --copy-local"; do
  timeout -k 2 90 $N/bin-bin-flashmoe run --gpus 2 --tokens 8192 --experts 32 $v --verify-tokens 8 --iters 20 > /tmp/r.log 2>&1; echo "2 GPUs [${v:-default}]: rc=$? $(grep -oP 'forward: median \K[0-9.]+ ms' /tmp/r.log) $(grep -E 'PASS|FAIL' /tmp/r.log | cut -c1-120 | tr '\n' ' ')"; cp /tmp/r.log /tmp/o/run2-$(echo $v | tr -dc 'a-z').log; done
echo "=== elapsed ${SECONDS}s"
