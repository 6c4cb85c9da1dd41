#!/bin/bash
# v37 c1 (1 GPU). M = main 297ca73, S = the sweep as an entry of its own (lean blocks' 69 KiB
# layout, launch bounds for three 128-thread blocks an SM: 168 registers, no spills). Kernel ms
# with the sweep forced, alternating M and S; the static plan beside; S's timeline; ncu on both
# sweeps (Mixtral-size T = 1); S's suites (default and sweep forced); compute-sanitizer on S's
# sweep; the lean items (now on the small layout too) M vs S on the tiny layer.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
trap 'cp /tmp/o/ncu-*.txt $OUT/ 2>/dev/null' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
MIX="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu"
timeout -k 2 60 /tmp/p/S/bin-bin-flashmoe run --gpus 1 --tokens 1 $MIX --lean-sweep --verify-tokens 1 --iters 3 > /tmp/r.log 2>&1; grep -E "forwards of|blocks|registers" /tmp/r.log | head -4
for cfg in "--tokens 1 $MIX" "--tokens 2 $MIX" "--tokens 1 --hidden 2048 --inter 2048 --experts 8" "--tokens 3 --hidden 2048 --inter 2048 --experts 8" "--tokens 1 --hidden 1536 --inter 1536 --experts 8 --gated --activation silu" "--tokens 1 --hidden 4096 --inter 4096 --experts 8" "--tokens 1 --hidden 2048 --inter 2048 --experts 16"; do
  line="[$cfg]"; for rep in 1 2; do for v in M S; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --lean-sweep --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; done; done
  timeout -k 2 90 /tmp/p/S/bin-bin-flashmoe run --gpus 1 $cfg --no-lean-sweep --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line static=$(med)"
  echo "$line"; grep -E "rror" /tmp/r.log | head -3; done
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 4 --hidden 512 --inter 512 --experts 8" "--tokens 1 --hidden 1024 --inter 1024 --experts 8"; do
  line="[lean default $cfg]"; for rep in 1 2; do for v in M S; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 2 --iters 50 > /tmp/r.log 2>&1; line="$line $v=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; done; done; echo "$line"; done
echo "=== bench done ${SECONDS}s"
timeout -k 2 90 /tmp/p/S/bin-bin-flashmoe run --gpus 1 --tokens 1 $MIX --lean-sweep --verify-tokens 1 --iters 20 --timeline > /tmp/r.log 2>&1; echo "--- S sweep timeline Mixtral T=1 $(med)"; grep -E "^  (routing done|barrier|last|exit)" /tmp/r.log
t S X=1 test-test-lean_forward
t S FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t S FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_reliability
t S X=1 test-test-forward_graph
grep -iE "  (forward_device|graph replay|kernel)" /tmp/o/t-S-test-test-forward_graph-X.log | cut -c1-140 | head -3
t S FLASHMOE_TEST_LEAN_SWEEP=1 test-test-forward_graph
t S X=1 test-test-ws_forward 200
t S X=1 test-test-moe_single_gpu 200
echo "=== tests done ${SECONDS}s"
for args in "--tokens 3 --hidden 256 --inter 320 --experts 12 --gated --bias --activation silu" "--tokens 4 --hidden 256 --inter 8192 --experts 2 --top-k 2 --bias"; do
for tool in memcheck racecheck synccheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool /tmp/p/S/bin-bin-flashmoe run --gpus 1 --lean-sweep --max-blocks 9 $args --timeout-ms 60000 --verify-tokens 3 --iters 2 > /tmp/o/s-$tool.log 2>&1
  echo "=== CSAN $tool [$args] rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Error:|Race reported" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -3
done; done
S="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy"
for v in "M moe_lean" "S moe_sweep"; do set -- $v
  timeout -k 2 120 ncu --clock-control none $S -k regex:$2 -s 2 -c 1 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 --tokens 1 $MIX --lean-sweep --verify-tokens 1 --iters 3 > /tmp/o/ncu-$1.txt 2>&1
  echo "--- ncu $1 rc=$? at ${SECONDS}s"; grep -E "Duration|DRAM Throughput|L2 Hit|Warp Cycles Per Issued|Achieved Occupancy|Theoretical Occupancy|Registers Per|Block Limit|Stall Long" /tmp/o/ncu-$1.txt | tr -s ' ' | head -16
done
echo "=== elapsed ${SECONDS}s"
