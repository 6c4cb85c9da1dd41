#!/bin/bash
# session 9, call 1: v16-candidate (static plan, read probe, os marks) vs main (E), then 2-GPU suites
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/b.tar.xz -C /tmp/p
N=/tmp/p/N; M=/tmp/p/E
export NVSHMEM_HOME=$(python3 -c "import nvidia, os; print([os.path.join(p,'nvshmem') for p in nvidia.__path__ if os.path.isdir(os.path.join(p,'nvshmem'))][0])")
export FLASHMOE_BIN=$N/bin-bin-flashmoe
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.mem --format=csv,noheader
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $N/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|bitwise|error|^test .*FAIL|forward_device \(|graph replay +mean" /tmp/t.log | cut -c1-220 | head -8; cp /tmp/t.log $OUT/$2-$(echo $1 | tr -dc 'A-Z0-9' | tail -c 12).log; }
timeout -k 2 60 $N/bin-bin-flashmoe info > /tmp/i.log 2>&1; echo "info rc=$?"; grep -iE "read|GB/s|panel|tile" /tmp/i.log | head -12
t X=1 test-test-moe_single_gpu "" 90
t FLASHMOE_TEST_STATIC_PLAN=0 test-test-moe_single_gpu "" 90
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"
X="--hidden 4096 --inter 14336 --experts 8"
for cfg in "$G $X --tokens 1" "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 32 --experts 64" "$G $X --tokens 8" "--tokens 128 --experts 64"; do
  for v in "M" "N" "N --no-static-plan" "M" "N" "N --no-static-plan"; do
    set -- $v; b=/tmp/p/$1/bin-bin-flashmoe; shift
    [ $# -gt 0 ] && [ "$b" = "$M/bin-bin-flashmoe" ] && continue
    timeout -k 2 40 $b run --gpus 1 $cfg --verify-tokens 4 --iters 30 --timeline "$@" > /tmp/r.log 2>&1
    echo "$v [$cfg]: $(med) ms $(grep -c PASS /tmp/r.log)pass | $(grep -iE 'routing|barrier|first task|last task' /tmp/r.log | tr -s ' ' | head -4 | cut -c1-60 | tr '\n' '|')"
  done
  cp /tmp/r.log "$OUT/run-$(echo $cfg | tr -dc 'a-z0-9' | tail -c 30).log"
done
echo "=== A/B done at $SECONDS"
t X=1 test-test-moe_reliability "" 120
t FLASHMOE_TEST_STATIC_PLAN=0 test-test-moe_reliability "" 120
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu "" 60
t X=1 test-test-forward_graph "" 90
t X=1 test-test-moe_shared_expert "" 60
t X=1 test-test-nvshmem_forward "" 40
t X=1 test-test-gemm_tile "" 40
echo "=== 1-GPU done at $SECONDS"
nvidia-smi -L | wc -l
t X=1 test-test-moe_multi_gpu "" 150
t X=1 test-test-multiprocess "" 120
for v in "run --gpus 2" "launch --nproc-per-node 2 -- $N/bin-bin-flashmoe run" "run --gpus 2" "launch --nproc-per-node 2 -- $N/bin-bin-flashmoe run"; do
  timeout -k 2 60 $N/bin-bin-flashmoe $v --tokens 16384 --experts 32 --iters 30 --verify-tokens 4 > /tmp/r.log 2>&1
  echo "rc=$? [$v]: $(grep -oP 'forward: median \K[0-9.]+' /tmp/r.log | tr '\n' ' ') ms $(grep -c PASS /tmp/r.log)pass $(grep -ciE 'error|panic' /tmp/r.log)err"
done
cp /tmp/r.log $OUT/mp-run.log
echo "=== elapsed $SECONDS"
