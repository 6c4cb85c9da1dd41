#!/bin/bash
# v33 c2 (1 GPU). c1: R's GEMM1 epilogue 3.8 -> 2.9 us but finish +0.5 and mainloop +0.7: the
# forwards even or slower. RN = R without the epilogue's global stores (timing probe, wrong
# output). If RN's epilogue + finish is ~1.5 us against R's ~4.8, the stores' drain is the cost
# (then: asynchronous bulk stores, finish deferred). Timelines per kind for M, R, RN.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64" "--tokens 4096 --experts 128"; do
  line="[$cfg]"; for rep in 1 2; do for v in M R RN; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)"; done; done; echo "$line"
  for v in M R RN; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 10 --timeline > /tmp/r.log 2>&1; echo "--- $v timeline [$cfg] $(med)"; grep -E "per GEMM|consumer 0 waited" /tmp/r.log | sed 's/ws consumer 0 per //'
  done
done
echo "=== elapsed ${SECONDS}s"
