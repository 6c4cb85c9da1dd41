#!/bin/bash
# session 14, call 8 (1 GPU): why the narrow GEMM1 epilogue (N, 34d4cbd: +6-7% on the standalone tile) lost 1-2.5% in
# the fused layer against main (M2): ncu on one 16384/32 forward each - instructions, local (spill) traffic, stall
# reasons (no_instruction = i-cache, barrier, long scoreboard), tensor pipe.
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/n.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
S="--section SpeedOfLight --section WarpStateStats --section InstructionStats --metrics smsp__sass_inst_executed_op_local_ld.sum,smsp__sass_inst_executed_op_local_st.sum"
cat > /tmp/raw.py <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
h, v = rows[0], rows[-1]
for name, val in zip(h, v):
    if any(k in name for k in ("gpu__time_duration.sum", "inst_executed.sum", "op_local", "issue_stalled", "warps_active.avg.per_cycle", "pipe_tensor")) and "pct" not in name[:0]:
        if "pcsamp" in name or "average_warp_latency" in name or "op_local" in name or "time_duration" in name or "inst_executed.sum" == name.split("__")[-1] or "tensor" in name:
            print(f"{name} {val}")
PY
for v in M2 N; do
  timeout -k 2 150 ncu --clock-control none $S -k regex:moe_forward -s 2 -c 1 -o /tmp/o/$v /tmp/p/$v/bin-bin-flashmoe run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 1 --iters 3 > /tmp/o/ncu-$v.log 2>&1; echo "=== $v rc=$? at ${SECONDS}s"
  ncu -i /tmp/o/$v.ncu-rep --page raw --csv > /tmp/o/raw-$v.csv 2>&1; python3 /tmp/raw.py /tmp/o/raw-$v.csv | grep -vE " 0$| 0.0$| \(!\)" | head -60
  ncu -i /tmp/o/$v.ncu-rep --page details > /tmp/o/details-$v.txt 2>&1; grep -E "Duration|Executed Instructions  |Warp Cycles Per Issued|Compute \(SM\) Throughput|DRAM Throughput" /tmp/o/details-$v.txt | head -8; rm -f /tmp/o/$v.ncu-rep; done
echo "=== elapsed ${SECONDS}s"
