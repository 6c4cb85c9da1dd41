#!/bin/bash
# v35 c11 (1 GPU). FIN = main with c10's sweep border: the suites whose defaults it may change.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c11.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
t FIN X=1 test-test-lean_forward
t FIN X=1 test-test-moe_single_gpu
t FIN X=1 test-test-moe_reliability
t FIN X=1 test-test-ws_forward
echo "=== elapsed ${SECONDS}s"
