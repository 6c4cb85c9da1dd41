#!/bin/bash
# v45 c4: main 99de479, every GPU test binary of a gpu-bundle build (one H200), ignored tests
# included, one thread; benches not run here (c2-c3 ran the sweeps).
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p/all $OUT/t && tar xJf .gpuws/all.tar.xz -C /tmp/p/all
export FLASHMOE_BIN=/tmp/p/all/bin-bin-flashmoe
nvidia-smi --query-gpu=index,name --format=csv,noheader
for t in /tmp/p/all/test-*; do
  n=$(basename $t); s=$SECONDS
  timeout -k 2 170 $t --include-ignored --test-threads=1 > $OUT/t/$n.log 2>&1
  echo "== $n rc=$? in $((SECONDS-s))s $(grep 'test result' $OUT/t/$n.log | tail -1)"
  grep -E "panicked|FAILED" $OUT/t/$n.log | cut -c1-240 | head -6
done
echo "=== elapsed ${SECONDS}s"
