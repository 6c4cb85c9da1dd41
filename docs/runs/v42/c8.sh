#!/bin/bash
# v42 c8 (1 GPU). Do the blocks' epilogues fall together, and does that make the stores dear?
# Timing probe FLASHMOE_PROBE_STAGGER: each ws block starts claiming tasks (block % 8) x 3.5 us
# late (0-24.5 us: most of a task), so the blocks' task phases spread.
#   MS   = main + stagger;   RDNS = c7's RDN (direct register stores) + stagger.
# Predicted, if bursts across blocks are the cost: MS -3 to -8% at 16384/32 despite up to 24.5
# us of late start, RDNS close to MS; if not, MS +1 to +2% (the late start) and RDNS ~ RDN.
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c8.tar.xz -C /tmp/p
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
r() { timeout -k 2 60 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo -n " $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; grep -E "rror" /tmp/r.log | head -2 | cut -c1-200; }
L="--hidden 2048 --inter 2048"
n=0
for cfg in "--tokens 16384 $L --experts 32" "--tokens 8192 $L --experts 64" "--tokens 4096 $L --experts 128" "--tokens 16384 $L --experts 32 --gated --activation silu --capacity-factor 0"; do
  n=$((n+1)); echo -n "[$cfg]"; for v in MC MS RDN RDNS; do r $v "$cfg"; done; echo
  if [ $n -le 2 ]; then echo -n "  again:"; for v in MC MS RDN RDNS; do r $v "$cfg"; done; echo; fi
done
for b in MS RDNS; do
timeout -k 2 60 /tmp/p/$b/bin-bin-flashmoe run --gpus 1 --tokens 16384 $L --experts 32 --verify-tokens 2 --iters 10 --timeline > /tmp/r.log 2>&1
echo "--- $b 16384/32 timeline $(med)"; grep -E "per GEMM|exit|idle|waiting" /tmp/r.log | tr -s ' '
done
# Where RDN's store bursts stall: ncu source counters, one forward at 16384/32.
trap 'cp /tmp/o/*.csv.gz /tmp/o/*.txt $OUT/ 2>/dev/null' EXIT
S="--section SpeedOfLight --section WarpStateStats --section SourceCounters"
timeout -k 2 150 ncu --clock-control none $S --import-source no -k regex:moe_forward -s 2 -c 1 -o /tmp/o/f /tmp/p/RDN/bin-bin-flashmoe run --gpus 1 --tokens 16384 $L --experts 32 --verify-tokens 1 --iters 3 > /tmp/o/ncu-f.log 2>&1; echo "ncu RDN rc=$? at ${SECONDS}s"
ncu -i /tmp/o/f.ncu-rep --page details > /tmp/o/c8-ncu-rdn.txt 2>&1; grep -E "Duration|Warp Cycles Per Issued|SM Frequency" /tmp/o/c8-ncu-rdn.txt | head -4
ncu -i /tmp/o/f.ncu-rep --page source --csv --print-source sass > /tmp/o/c8-ncu-rdn-sass.csv 2>/dev/null; gzip -9 /tmp/o/c8-ncu-rdn-sass.csv
echo "=== elapsed ${SECONDS}s"
