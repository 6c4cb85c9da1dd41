#!/bin/bash
# session 10, call 3 (2 GPUs): a rank that dies mid-run (peer-death branch), multiprocess suite; fused slices with the reduce fix (F)
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/b.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
N=/tmp/p/N; F=/tmp/p/F/bin-bin-flashmoe
export NVSHMEM_HOME=$(python3 -c "import nvidia, os; print([os.path.join(p,'nvshmem') for p in nvidia.__path__ if os.path.isdir(os.path.join(p,'nvshmem'))][0])")
export FLASHMOE_BIN=$N/bin-bin-flashmoe
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.mem --format=csv,noheader
# JIT both modules of the NVSHMEM build before the timed tests (a fresh machine needs > 60 s).
s=$SECONDS; timeout -k 2 240 $N/bin-bin-flashmoe launch --nproc-per-node 2 -- $N/bin-bin-flashmoe run --tokens 64 --experts 8 --hidden 128 --inter 128 --iters 0 > /tmp/o/warm.log 2>&1; echo "warm-up rc=$? in $((SECONDS-s))s $(grep -c PASS /tmp/o/warm.log)pass"
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $N/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|bitwise|killed|error|^test .*FAIL|transport .* rank" /tmp/t.log | cut -c1-260 | head -12; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-multiprocess a_rank_that_dies 120
t X=1 test-test-multiprocess "" 300
echo "=== multiprocess done at $SECONDS"
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"
X="--hidden 4096 --inter 14336 --experts 8"
i=0
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "$G $X --tokens 1" "--tokens 1 --experts 64"; do
  for v in "" "--no-fused-slices" "" "--no-fused-slices"; do
    i=$((i+1))
    timeout -k 2 90 $F run --gpus 1 $cfg --verify-tokens 4 --iters 40 --timeline $v > /tmp/r.log 2>&1
    echo "[$cfg] ${v:-fused}: rc=$? $(med) ms $(grep -c PASS /tmp/r.log)pass | $(grep -iE 'first task|last task' /tmp/r.log | tr -s ' ' | head -2 | cut -c1-70 | tr '\n' '|')"
    cp /tmp/r.log /tmp/o/run-$i.log
  done
done
echo "=== elapsed $SECONDS"
