#!/bin/bash
# v32 c4 (nvidia-h200-x2): R = branch put-rows-prefetch (main 8c3b032 + GEMM1 returned rows prefetched into L1 before their thread-scope puts) vs F (main). Forced puts and stores, 16384/32 and 8192/64 per GPU, two passes; then the multi-process suite on R.
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
export NVSHMEM_HOME=$(python3 -c "import nvidia, os; print([os.path.join(p,'nvshmem') for p in nvidia.__path__ if os.path.isdir(os.path.join(p,'nvshmem'))][0])")
nvidia-smi --query-gpu=index,name,clocks.sm --format=csv,noheader
n=0
r() { # build transport tokens experts extra...
  local bn=$1 tr=$2 tk=$3 ex=$4; shift 4; local b=/tmp/p/$bn/bin-bin-flashmoe; n=$((n+1))
  FLASHMOE_TRANSPORT=$tr timeout -k 2 90 $b launch --nproc-per-node 2 -- $b run --tokens $tk --experts $ex --iters 30 --verify-tokens 4 --timeline "$@" > /tmp/r.log 2>&1
  local rc=$?
  local d=$(grep -oP '(barrier passed|dispatch done) +median +[0-9.]+ us +last +\K[0-9.]+' /tmp/r.log | paste -sd' ' | awk '{printf "%.0f %.0f", $2-$1, $4-$3}')
  echo "rc=$rc [$bn $tr $tk/$ex $*]: dispatch $d us | $(grep -oP 'forward: median \K[0-9.]+' /tmp/r.log | tr '\n' ' ')ms $(grep -c PASS /tmp/r.log)pass | $(grep -oP 'output hash, rank \d: \K\S+' /tmp/r.log | tr '\n' ' ')| $(grep -oP 'moe_forward_\w+' /tmp/r.log | sort -u | tr '\n' ' ')"
  cp /tmp/r.log /tmp/o/run-$n-$bn-$tr.log
}
for pass in 1 2; do
  for cfg in "16384 32" "8192 64"; do
    r F put $cfg --mainloop wgmma
    r R put $cfg --mainloop wgmma
    r R auto $cfg --mainloop wgmma
  done
done
echo "=== runs done at $SECONDS"
export FLASHMOE_BIN=/tmp/p/R/bin-bin-flashmoe
t() { local s=$SECONDS; timeout -k 2 $2 /tmp/p/R/$1 --include-ignored --test-threads=1 --nocapture > /tmp/t.log 2>&1; echo "=== $1 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|error:" /tmp/t.log | cut -c1-200 | head -8; cp /tmp/t.log /tmp/o/$1.log; }
t test-test-multiprocess 240
echo "=== elapsed $SECONDS"
