#!/bin/bash
# session 15, call 12 (1 GPU): stream-probe branch. One block's own weight-read limit, cp.async + block barrier (the
# decode mainloop's feed) vs bulk copies and TMA boxes onto mbarriers, on 264/132/66/33 blocks (`flashmoe info`).
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/s.tar.xz -C /tmp/p
timeout -k 2 120 /tmp/p/S/bin-bin-flashmoe info 2>&1 | tail -8
echo "=== elapsed ${SECONDS}s"
