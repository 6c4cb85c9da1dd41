#!/bin/bash
# v32 c3 (nvidia-h200-x2): F = branch put-prefetch final (4f27909 + the PUTS-only-in-NVSHMEM
# commit): the piecewise forced-put dispatch (c2's PIPE, restructured so the ws entries keep main's
# registers) and the rendezvous port fix. NVSHMEM builds. Dispatch at 16384/32 per GPU, F vs M
# (main), same call, two passes; the ws engine one process per GPU F vs M (no change expected);
# then the 2-GPU suites on F.
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
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
  for db in "" "--dispatch-blocks 263"; do
    r F auto 16384 32 --mainloop wgmma $db
    r F put 16384 32 --mainloop wgmma $db
    r M put 16384 32 --mainloop wgmma $db
  done
  r F put 8192 64 --mainloop wgmma
  r F auto 8192 64 --mainloop wgmma
  r F auto 16384 32
  r M auto 16384 32
done
echo "=== runs done at $SECONDS"
export FLASHMOE_BIN=/tmp/p/F/bin-bin-flashmoe
t() { local s=$SECONDS; timeout -k 2 $2 /tmp/p/F/$1 --include-ignored --test-threads=1 --nocapture > /tmp/t.log 2>&1; echo "=== $1 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|error:" /tmp/t.log | cut -c1-200 | head -8; cp /tmp/t.log /tmp/o/$1.log; }
t test-test-multiprocess 240
t test-test-moe_multi_gpu 180
CUDA_VISIBLE_DEVICES=0 t test-test-nvshmem_forward 90
echo "=== elapsed $SECONDS"
