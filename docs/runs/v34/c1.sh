#!/bin/bash
# v34 c1 (1 GPU). B = branch b-ahead (main 46c7c1d + the ws producer asking L2 for each task's
# weight K slices N past the one it issues, `--b-ahead N`, N = 0/4/8/12); M = main 46c7c1d;
# M0 = 1c96090 (main before the stream store, for the ncu before/after v33 owed).
# Predicted: where each expert has one row tile (4096/128, 8192/128, 2048/64, gated 4096/128), a
# block's weight reads stop for ~4 us of each ~39 us task while its consumers store; asked ahead,
# -3 to -8%. Where tiles share panels (16384/32, 8192/64, 16384/128): even or slower (v18).
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
trap 'cp /tmp/o/*.txt $OUT/ 2>/dev/null; tar czf $OUT/logs.tgz -C /tmp o --exclude="*.ncu-rep"' EXIT
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
ab() { local cfg=$1; shift; local line="[$cfg]"; for rep in 1 2; do for v in "$@"; do
  local bin=${v%%:*} n=${v#*:}; local x=""; [ "$n" != "$bin" ] && x="--b-ahead $n"
  timeout -k 2 90 /tmp/p/$bin/bin-bin-flashmoe run --gpus 1 $cfg $x --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1
  line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)$(hsh)"; done; done; echo "$line"; }
for cfg in "--tokens 4096 --experts 128" "--tokens 8192 --experts 128" "--tokens 2048 --experts 64" "--tokens 4096 --experts 128 --gated --activation silu"; do
  ab "$cfg" M B:0 B:4 B:8 B:12; done
for cfg in "--tokens 16384 --experts 128" "--tokens 8192 --experts 64" "--tokens 16384 --experts 32"; do
  ab "$cfg" M B:0 B:8; done
echo "=== A/B done at ${SECONDS}s"
MET="--metrics dram__bytes_read.sum,dram__bytes_write.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,lts__t_sector_hit_rate.pct,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,gpu__time_duration.sum,sm__warps_active.avg.pct_of_peak_sustained_active"
nc() { local n=$1 bin=$2; shift 2
  timeout -k 2 120 ncu --clock-control none $MET -k regex:moe_forward -s 2 -c 1 /tmp/p/$bin/bin-bin-flashmoe run --gpus 1 "$@" --verify-tokens 1 --iters 3 > /tmp/o/ncu-$n.txt 2>&1
  echo "--- ncu $n rc=$? at ${SECONDS}s"; grep -E "^\s+(sm__|dram__|gpu__|lts__)" /tmp/o/ncu-$n.txt | tr -s ' ' ; }
nc B0-4096-128 B --tokens 4096 --experts 128 --b-ahead 0
nc B8-4096-128 B --tokens 4096 --experts 128 --b-ahead 8
nc M0-16384-32 M0 --tokens 16384 --experts 32
nc M-16384-32 M --tokens 16384 --experts 32
for tool in memcheck synccheck; do
  timeout -k 2 90 compute-sanitizer --tool $tool /tmp/p/BSAN/bin-bin-flashmoe run --gpus 1 --mainloop ws --max-blocks 4 --hidden 1024 --inter 1024 --experts 4 --tokens 256 --b-ahead 8 --timeout-ms 120000 --verify-tokens 4 --iters 1 > /tmp/o/s-$tool.log 2>&1
  echo "=== BSAN $tool rc=$? $(grep -E 'ERROR SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Error:" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
done
echo "=== elapsed ${SECONDS}s"
