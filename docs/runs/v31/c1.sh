#!/bin/bash
# Session 24, call 1 (1 GPU). Which operand makes a fused GEMM task slower than the standalone
# tile (v30 c12: ~29 vs 23 us)? Timing probes of branch hot-probe (results wrong, so verify
# FAILs; timing is what counts): B0 = every task's B from expert 0's weights (16 MB of weights,
# L2-hot), A0 = every A box from the region's first 128 rows, AB = both; M = main.
# Predicted: if operand delivery from DRAM is the limit, AB runs 16384/32 at ~0.85-0.90 ms
# (tasks near 23 us); if AB stays near M's 1.03 ms, the loss is in the task's own structure.
# Then v30's owed c14: compute-sanitizer on the timeline forward (consumer clock).
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 8192 --experts 64"; do
  line="[$cfg]"; for rep in 1 2; do for v in M B0 A0 AB; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
for v in M AB B0; do
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 1 --iters 5 --timeline > /tmp/o/tl-$v.log 2>&1; echo "--- $v timeline $(grep -oP 'forward: median \K[0-9.]+' /tmp/o/tl-$v.log)"; sed -n '/timeline of/,$p' /tmp/o/tl-$v.log | head -30
done
B=/tmp/p/SAN/bin-bin-flashmoe
cfg="--hidden 256 --inter 1024 --experts 4 --tokens 512 --gated --activation silu"
for tool in memcheck synccheck racecheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool $B run --gpus 1 --mainloop ws --max-blocks 4 $cfg --timeout-ms 120000 --verify-tokens 4 --iters 1 --timeline > /tmp/o/s-$tool.log 2>&1
  echo "=== $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass $(grep -c 'consumer 0' /tmp/o/s-$tool.log) timeline"
  grep -E "Race reported|Error:" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
done
echo "=== elapsed ${SECONDS}s"
