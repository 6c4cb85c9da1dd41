#!/bin/bash
# session 13, call 5 (1 GPU): where the fused combine's cost is. F = branch fused-combine (full), V1 = claim only
# (no batches: output wrong), V2 = take only (no claim, no batches); F --no-fused-combine is the reference.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/v.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
med() { grep -oP "forward: median \K[0-9.]+ ms \(min [0-9.]+\)" /tmp/r.log; }
i=0
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do for rep in 1 2; do for v in "F --no-fused-combine" "F" "V1" "V2"; do i=$((i+1)); set -- $v
  timeout -k 2 60 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $cfg ${2:-} --verify-tokens 1 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] $v: rc=$? $(med)"; cp /tmp/r.log /tmp/o/run-$i.log; done; done; done
for v in V1 V2; do timeout -k 2 60 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 1 --iters 5 --timeline > /tmp/o/timeline-$v.log 2>&1; echo "timeline $v"; grep -E "last task end|processors" /tmp/o/timeline-$v.log; done
echo "=== elapsed ${SECONDS}s"
