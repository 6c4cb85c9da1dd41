#!/bin/bash
# session 14, call 5 (1 GPU): the racecheck finding on ws (S = main 6d7cfd0 built with FLASHMOE_SANITIZE=1): every
# hazard printed with its threads (same thread in two ring rounds, or two threads?), at two sizes.
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/next.tar.xz -C /tmp/p S
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
S=/tmp/p/S/bin-bin-flashmoe
for cfg in "--tokens 300 --experts 8 --hidden 256 --inter 256 --gated --bias" "--tokens 64 --experts 4 --hidden 128 --inter 256"; do s=$SECONDS
  timeout -k 2 80 compute-sanitizer --tool racecheck --racecheck-report hazard --print-limit 12 $S run --gpus 1 $cfg --mainloop ws --max-blocks 2 --iters 1 --verify-tokens 4 > /tmp/o/race-$s.log 2>&1; echo "[$cfg] rc=$? in $((SECONDS-s))s: $(grep -E 'RACECHECK SUMMARY|PASS|FAIL' /tmp/o/race-$s.log | tr '\n' ' ')"
  grep -vE "^=========     at |^=========         " /tmp/o/race-$s.log | head -40 | cut -c1-220; done
echo "=== elapsed ${SECONDS}s"
