#!/bin/bash
# v32 c1 (nvidia-h200-x2): issue 13's forced-put dispatch. M = main ebc939b, P2K / P4K = branch
# put-prefetch built with FLASHMOE_PUT_CHUNK=2048 / 4096 (each warp's put in chunks, the next
# chunk's lines prefetched into L1 meanwhile). All NVSHMEM builds. Two processes (launch), 16384/32
# per GPU, 128-thread engine on both transports; dispatch = last "dispatch done" - "barrier passed".
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
export NVSHMEM_HOME=$(python3 -c "import nvidia, os; print([os.path.join(p,'nvshmem') for p in nvidia.__path__ if os.path.isdir(os.path.join(p,'nvshmem'))][0])")
nvidia-smi --query-gpu=index,name,clocks.sm --format=csv,noheader
r() { # build transport extra...
  local b=/tmp/p/$1/bin-bin-flashmoe tr=$2; shift 2
  FLASHMOE_TRANSPORT=$tr timeout -k 2 90 $b launch --nproc-per-node 2 -- $b run --tokens 16384 --experts 32 --iters 30 --verify-tokens 4 --timeline "$@" > /tmp/r.log 2>&1
  local rc=$?
  echo "rc=$rc [$1 $tr $*]: $(grep -oP 'forward: median \K[0-9.]+' /tmp/r.log | tr '\n' ' ')ms $(grep -c PASS /tmp/r.log)pass | $(grep -E 'barrier passed|dispatch done' /tmp/r.log | tr -s ' ' | tr '\n' '|')"
  cp /tmp/r.log /tmp/o/run-$1-$tr-$(echo $* | tr -dc 'a-z0-9').log
}
for pass in 1 2; do
  for b in M P2K P4K; do
    for db in "" "--dispatch-blocks 263"; do
      [ $pass = 1 ] && r $b auto --mainloop wgmma $db
      r $b put --mainloop wgmma $db
    done
  done
done
r M auto
echo "=== runs done at $SECONDS"
for b in P2K P4K; do
  export FLASHMOE_BIN=/tmp/p/$b/bin-bin-flashmoe
  s=$SECONDS; timeout -k 2 200 /tmp/p/$b/test-test-multiprocess --include-ignored --test-threads=1 --nocapture > /tmp/t.log 2>&1
  echo "=== $b multiprocess rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | head -5; cp /tmp/t.log /tmp/o/mp-$b.log
done
echo "=== elapsed $SECONDS"
