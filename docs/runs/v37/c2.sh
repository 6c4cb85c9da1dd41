#!/bin/bash
# v37 c2 (1 GPU). S2 = S (c1) with the sweep's border at 1 GiB of chosen weights and c1's test
# fix. Sweep vs static plan where the border moved (T = 1, k = 3 at Mixtral size: 1008 MiB;
# T = 3, H = I = 4096: 384 MiB), the defaults at Mixtral size T = 1 and 2, and the suites
# (lean_forward by default and forced, moe_single_gpu with the sweep forced).
set -u
export RUST_BACKTRACE=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" -A3 /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -12; }
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
hsh() { grep -oP "output hash, rank 0: \K[0-9a-f]{6}" /tmp/r.log; }
runs() { grep -oP "run \K\S+(?= \()" /tmp/r.log | head -1; }
MIX="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu"
for cfg in "--tokens 1 --top-k 3 $MIX" "--tokens 3 --hidden 4096 --inter 4096 --experts 8"; do
  line="[$cfg]"; for rep in 1 2; do for v in "sweep --lean-sweep" "static --no-lean-sweep"; do set -- $v
    timeout -k 2 90 /tmp/p/S2/bin-bin-flashmoe run --gpus 1 $cfg $2 --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; line="$line $1=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)#$(hsh)"; done; done
  timeout -k 2 90 /tmp/p/S2/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo "$line default=$(med)($(runs))"; done
for cfg in "--tokens 1 $MIX" "--tokens 2 $MIX"; do
  timeout -k 2 90 /tmp/p/S2/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 2 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] default=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)($(runs))"; done
echo "=== bench done ${SECONDS}s"
t S2 X=1 test-test-lean_forward
t S2 FLASHMOE_TEST_LEAN_SWEEP=1 test-test-lean_forward
t S2 FLASHMOE_TEST_LEAN_SWEEP=1 test-test-moe_single_gpu 200
echo "=== elapsed ${SECONDS}s"
