#!/bin/bash
# Session 22, call 1 (1 GPU). Packs (docs/runs/v28/pack.sh, with a source dir and target dir):
#   M = main; F = fold-partial (on one GPU a pair's partial last tile ends its last run of
#   tiles, so its GEMM0 and GEMM1 tasks are claimed with the run's); RF = F + route-consumers
#   (v28's prepared branch: the ws consumers' 8 warps route); SAN = RF built with
#   FLASHMOE_SANITIZE=1.
# F predicted: 8192/64, 16384/128 (~256 rows per expert: 1-2 full tiles + a partial that read
# W1 and W2 a second time waves later) DRAM read 1.90 -> ~1.4 GB and -10..-20%; 16384/32 and
# 16384/64 a few %; 4096/128 (partials only) even.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c1.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 > /tmp/o/t-$1-$3-${2%%=*}.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3-${2%%=*}.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3-${2%%=*}.log | cut -c1-300 | head -8; }
for v in F RF; do
  t $v X=1 test-test-ws_forward
  t $v FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
  t $v Y=1 test-test-moe_single_gpu
  t $v FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability
  t $v X=1 test-test-forward_graph
done
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 8192 --experts 64" "--tokens 16384 --experts 128" "--tokens 16384 --experts 32" "--tokens 16384 --experts 64" "--tokens 4096 --experts 128" "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 8192 --experts 64 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in M F RF; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== A/B done at ${SECONDS}s"
N="--metrics dram__bytes_read.sum,lts__t_sector_hit_rate.pct,gpu__time_duration.sum"
for cfg in "--tokens 8192 --experts 64" "--tokens 16384 --experts 32"; do for v in M F; do
  timeout -k 2 60 ncu --clock-control none $N -k regex:moe_forward -s 2 -c 1 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 1 --iters 3 > /tmp/o/ncu.log 2>&1
  echo "=== ncu [$cfg] $v rc=$? $(grep -E 'dram__|lts__|duration' /tmp/o/ncu.log | awk '{printf "%s %s %s; ", $1, $3, $2}')"
done; done
B=/tmp/p/SAN/bin-bin-flashmoe
i=0; for cfg in "--hidden 256 --inter 1024 --experts 4 --tokens 512 --gated --activation silu" "--hidden 512 --inter 1024 --experts 64 --tokens 2048 --top-k 3"; do
  for tool in memcheck synccheck racecheck; do i=$((i+1))
    timeout -k 2 100 compute-sanitizer --tool $tool $B run --gpus 1 --mainloop ws --max-blocks 4 $cfg --timeout-ms 120000 --verify-tokens 4 --iters 1 > /tmp/o/s$i.log 2>&1
    echo "=== $tool [$cfg] rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s$i.log | tail -1) $(grep -c PASS /tmp/o/s$i.log) pass"
    grep -E "Race reported|Error:" /tmp/o/s$i.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
  done
done
echo "=== elapsed ${SECONDS}s"
