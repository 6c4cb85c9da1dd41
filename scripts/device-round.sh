#!/usr/bin/env bash
# One device round: GPU tests; when they pass, timelines of key configurations and all sweeps.
# Results (logs, CSV, PNG) in $OUT/results.tgz. Run from the repo root after gpu-bundle.
set -u
bash scripts/gpu-check.sh tiny,single,multi >/dev/null 2>&1
mkdir -p /tmp/round && tar xzf "${OUT:-/tmp}/results.tgz" -C /tmp/round 2>/dev/null
grep -h "test result\|FAILED\|panicked\|left:\|right:" /tmp/round/*.log | sort | uniq -c | head -20
if grep -q "FAILED\|panicked" /tmp/round/*.log; then
  grep -h -B2 -A6 "panicked" /tmp/round/*.log | cut -c1-400 | head -40
  exit 1
fi
B=.gpu/bin/bin-bin-flashmoe
for a in "--gpus 1" "--gpus 1 --tokens 16384 --experts 32" "--gpus 1 --tokens 128" "--tokens 128" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32"; do
  echo "### $a"; $B run --verify-tokens 8 --iters 10 --timeline $a 2>&1 | grep -v "^layer\|^set-up\|^timeline\|verify:"
done > /tmp/round/timelines.log 2>&1
for a in "--gpus 1" "--gpus 1 --tokens 16384 --experts 32"; do
  echo "### --copy-local $a"; $B run --copy-local --verify-tokens 8 --iters 10 --timeline $a 2>&1 | grep -v "^layer\|^set-up\|^timeline\|verify:"
done >> /tmp/round/timelines.log 2>&1
grep -E "^###|^forward|barrier passed|dispatch done|processors:" /tmp/round/timelines.log | sed 's/ per GPU = .* of 790 TFLOP\/s//; s/over 10 runs; //'
[ "${1:-}" = "bench" ] && bash scripts/gpu-check.sh bench 2>&1 | grep -v "^===\|^[0-9], NVIDIA"
cp /tmp/round/*.log /tmp/gpu-check/ 2>/dev/null; tar czf "${OUT:-/tmp}/results.tgz" -C /tmp/gpu-check . 2>/dev/null
exit 0
