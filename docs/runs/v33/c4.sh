#!/bin/bash
# v33 c4 (1 GPU). Why R2's mainloops grew ~1 us a task (c1-c3; RN without stores too): ncu source
# counters on M (main 1c96090) and R2 at 16384/32 and 4096/128; hypothesis: instruction fetch
# (R2's executed epilogue is ~4x main's code), seen as stall_no_inst in the mainloop. Then
# compute-sanitizer (memcheck, synccheck, racecheck) on sanitizer builds of main (apply8, not
# sanitized in v32) and R2 (stmatrix staging), a small ws layer each: gated SiLU, and ReLU +bias.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c4.tar.xz -C /tmp/p
trap 'cp /tmp/o/*.csv.gz /tmp/o/*.txt $OUT/ 2>/dev/null; tar czf $OUT/logs.tgz -C /tmp o --exclude="*.ncu-rep"' EXIT
S="--section SpeedOfLight --section WarpStateStats --section SourceCounters"
for cfg in "--tokens 16384 --experts 32" "--tokens 4096 --experts 128"; do for v in M R2; do
  n=$v-$(echo $cfg | awk '{print $2"-"$4}')
  timeout -k 2 150 ncu --clock-control none $S --import-source no -k regex:moe_forward -s 2 -c 1 -o /tmp/o/$n /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 3 > /tmp/o/ncu-$n.log 2>&1; echo "ncu $n rc=$? at ${SECONDS}s"
  ncu -i /tmp/o/$n.ncu-rep --page details > /tmp/o/ncu-$n.txt 2>&1; grep -E "Duration|Warp Cycles Per Issued|SM Frequency" /tmp/o/ncu-$n.txt | head -4
  ncu -i /tmp/o/$n.ncu-rep --page source --csv --print-source sass > /tmp/o/ncu-$n-sass.csv 2>/dev/null; gzip -9 /tmp/o/ncu-$n-sass.csv
done; done
for v in MSAN R2SAN; do for cfg in "--hidden 256 --inter 1024 --experts 4 --tokens 512 --gated --activation silu" "--hidden 256 --inter 512 --experts 4 --tokens 300 --bias"; do for tool in memcheck synccheck racecheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool /tmp/p/$v/bin-bin-flashmoe run --gpus 1 --mainloop ws --max-blocks 4 $cfg --timeout-ms 120000 --verify-tokens 4 --iters 1 > /tmp/o/s-$v-$tool.log 2>&1
  echo "=== $v $tool [$cfg] rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$v-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$v-$tool.log) pass"
  grep -E "Race reported|Error:" /tmp/o/s-$v-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
done; done; done
echo "=== elapsed ${SECONDS}s"
