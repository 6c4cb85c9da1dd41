#!/bin/bash
# v32 c2 (nvidia-h200-x2): PIPE = branch put-prefetch: each warp copies its quarter of a put tile
# into the outbox a 4 KB piece at a time and puts each piece as it lands (lines prefetched into
# L1, the next piece's loads in flight), instead of the whole tile copied, then put. Against M
# (main) and P4K (c1's best) in the same call; then the multi-process suite and nvshmem_forward on
# PIPE. Two processes (launch), 16384/32 per GPU, 128-thread engine on both transports.
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
export NVSHMEM_HOME=$(python3 -c "import nvidia, os; print([os.path.join(p,'nvshmem') for p in nvidia.__path__ if os.path.isdir(os.path.join(p,'nvshmem'))][0])")
nvidia-smi --query-gpu=index,name,clocks.sm --format=csv,noheader
n=0
r() { # build transport extra...
  local bn=$1 tr=$2; shift 2; local b=/tmp/p/$bn/bin-bin-flashmoe; n=$((n+1))
  FLASHMOE_TRANSPORT=$tr timeout -k 2 90 $b launch --nproc-per-node 2 -- $b run --tokens 16384 --experts 32 --iters 30 --verify-tokens 4 --timeline "$@" > /tmp/r.log 2>&1
  local rc=$?
  local d=$(grep -oP '(barrier passed|dispatch done) +median +[0-9.]+ us +last +\K[0-9.]+' /tmp/r.log | paste -sd' ' | awk '{printf "%.0f %.0f", $2-$1, $4-$3}')
  echo "rc=$rc [$bn $tr $*]: dispatch $d us | $(grep -oP 'forward: median \K[0-9.]+' /tmp/r.log | tr '\n' ' ')ms $(grep -c PASS /tmp/r.log)pass | $(grep -oP 'output hash, rank \d: \K\S+' /tmp/r.log | tr '\n' ' ')"
  cp /tmp/r.log /tmp/o/run-$n-$bn-$tr.log
}
for pass in 1 2; do
  for db in "" "--dispatch-blocks 263"; do
    r M auto --mainloop wgmma $db
    r PIPE auto --mainloop wgmma $db
    r PIPE put --mainloop wgmma $db
    r P4K put --mainloop wgmma $db
    r M put --mainloop wgmma $db
  done
done
echo "=== runs done at $SECONDS"
export FLASHMOE_BIN=/tmp/p/PIPE/bin-bin-flashmoe
t() { local s=$SECONDS; timeout -k 2 $2 /tmp/p/PIPE/$1 --include-ignored --test-threads=1 --nocapture > /tmp/t.log 2>&1; echo "=== $1 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|bitwise" /tmp/t.log | cut -c1-200 | head -12; cp /tmp/t.log /tmp/o/$1.log; }
t test-test-multiprocess 240
CUDA_VISIBLE_DEVICES=0 t test-test-nvshmem_forward 90
echo "=== elapsed $SECONDS"
