#!/bin/bash
# v35 c2 (1 GPU). D2 = D1 + the dense launch's choices ranked by the last block (block 0 only
# computes the logits and routes), dense only while T·k < E. Suites on D2; timelines of the tiny
# layer (D1 dense, D2 dense, D2 routed); host time D1 vs D2 (dense); kernel A/B; sanitizers.
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c2.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $3 $2 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-400 | head -8; }
t D2 X=1 test-test-lean_forward
t D2 FLASHMOE_TEST_LEAN_DENSE=1 test-test-lean_forward
t D2 FLASHMOE_TEST_LEAN=1 test-test-moe_single_gpu
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for v in "D1 --lean-dense" "D2 --lean-dense" "D2 --no-lean-dense"; do set -- $v
  timeout -k 2 60 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 --tokens 1 --hidden 256 --inter 256 --experts 8 --lean $2 --verify-tokens 1 --iters 30 --timeline > /tmp/r.log 2>&1; echo "--- $v timeline $(med)"; grep -E "^  (logits|routing|first|last|exit)" /tmp/r.log; done
for rep in 1 2; do for d in D1 D2; do
  timeout -k 2 120 /tmp/p/$d/test-test-forward_graph host_time --include-ignored --nocapture > /tmp/o/g.log 2>&1
  echo "=== forward_graph $d rc=$? $(grep -oE 'grid [0-9]+' /tmp/o/g.log)"; grep -E "  (forward_device|graph replay|kernel|empty kernel, plain)" /tmp/o/g.log | cut -c1-130
done; done
for cfg in "--tokens 1 --hidden 256 --inter 256 --experts 8" "--tokens 2 --hidden 256 --inter 256 --experts 8" "--tokens 1 --hidden 256 --inter 256 --experts 64 --gated --activation silu --bias" "--tokens 2 --hidden 512 --inter 512 --experts 8 --gated --activation silu" "--tokens 1 --hidden 1024 --inter 1024 --experts 8"; do
  line="[$cfg]"; for rep in 1 2; do for v in "D1 --lean-dense" "D2 --lean-dense" "D2 --no-lean-dense" "D2 --no-lean"; do set -- $v
    timeout -k 2 60 /tmp/p/$1/bin-bin-flashmoe run --gpus 1 $cfg $2 --verify-tokens 4 --iters 50 > /tmp/r.log 2>&1; line="$line $1$2=$(med)$(grep -q PASS /tmp/r.log && echo + || echo -)"; done; done; echo "$line"; done
for tokens in 1 3; do for tool in memcheck racecheck synccheck; do
  timeout -k 2 60 compute-sanitizer --tool $tool /tmp/p/D2SAN/bin-bin-flashmoe run --gpus 1 --lean --lean-dense --tokens $tokens --hidden 256 --inter 320 --experts 12 --gated --bias --activation silu --timeout-ms 120000 --verify-tokens $tokens --iters 2 > /tmp/o/s-$tool.log 2>&1
  echo "=== D2SAN T=$tokens $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s-$tool.log | tail -1) $(grep -c PASS /tmp/o/s-$tool.log) pass"
  grep -E "Error:|Race reported" /tmp/o/s-$tool.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -3
done; done
echo "=== elapsed ${SECONDS}s"
