#!/bin/bash
# session 13, call 6 (1 GPU): does compute-sanitizer finish on the 128-thread wgmma engine at the size where it never finishes on ws?
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/m.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
B=/tmp/p/M/bin-bin-flashmoe
for ml in wgmma ws; do for tool in memcheck; do s=$SECONDS
  timeout -k 2 75 compute-sanitizer --tool $tool --print-limit 5 $B run --gpus 1 --tokens 300 --experts 8 --hidden 256 --inter 256 --gated --bias --mainloop $ml --max-blocks 4 --iters 1 --verify-tokens 4 > /tmp/o/san-$ml-$tool.log 2>&1; echo "$tool $ml rc=$? in $((SECONDS-s))s: $(grep -E 'ERROR SUMMARY|PASS|FAIL' /tmp/o/san-$ml-$tool.log | tr '\n' ' ')"; done; done
echo "=== elapsed ${SECONDS}s"
