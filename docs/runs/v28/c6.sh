#!/bin/bash
# v28 c6 (1 GPU): compute-sanitizer owed since v27 (rcp-approx and the W3 partners loaded late were
# merged without one) on main 8cebaa2, FLASHMOE_SANITIZE=1 build: memcheck, synccheck, racecheck
# on the ws engine (gated and ungated, 4 blocks), and memcheck of a layer built for 4096 tokens
# whose T = 1 forward takes the 128-thread engine (engine per forward, merged this session).
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
B=/tmp/p/SAN/bin-bin-flashmoe
i=0; for cfg in "--hidden 256 --inter 1024 --experts 4 --tokens 512 --gated --activation silu" "--hidden 512 --inter 1024 --experts 4 --tokens 700 --top-k 3"; do
  for tool in memcheck synccheck racecheck; do i=$((i+1))
    timeout -k 2 150 compute-sanitizer --tool $tool $B run --gpus 1 --mainloop ws --max-blocks 4 $cfg --timeout-ms 120000 --verify-tokens 4 --iters 1 > /tmp/o/s$i.log 2>&1
    echo "=== $tool [$cfg] rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s$i.log | tail -1) $(grep -c PASS /tmp/o/s$i.log) pass"
    grep -E "Race reported|Error:" /tmp/o/s$i.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
  done
done
timeout -k 2 150 compute-sanitizer --tool memcheck $B run --gpus 1 --hidden 512 --inter 1024 --experts 8 --tokens 1 --max-tokens 4096 --timeout-ms 120000 --verify-tokens 1 --iters 2 > /tmp/o/s9.log 2>&1
echo "=== memcheck [T = 1 on a layer built for 4096] rc=$? $(grep -E 'ERROR SUMMARY' /tmp/o/s9.log | tail -1) $(grep -c PASS /tmp/o/s9.log) pass; $(grep 'forwards of T' /tmp/o/s9.log | head -1)"
echo "=== elapsed ${SECONDS}s"
