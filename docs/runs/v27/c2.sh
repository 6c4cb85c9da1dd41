#!/bin/bash
# v27 c2 (1 GPU): racecheck offsets on the warp-local epilogue (SAN), branch smem-bias (B) suites
# and A/B against main (M2).
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c2.tar.xz -C /tmp/p
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-120} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-300 | head -8; }
t B FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t B X=1 test-test-ws_forward
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32" "--tokens 16384 --experts 32 --bias" "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 16384 --experts 32 --gated --activation silu --bias" "--tokens 8192 --experts 64 --gated --activation gelu --bias" "--tokens 4096 --experts 128"; do
  line="[$cfg]"; for rep in 1 2; do for v in M2 B; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
timeout -k 2 150 compute-sanitizer --tool racecheck /tmp/p/SAN/bin-bin-flashmoe run --gpus 1 --mainloop ws --max-blocks 4 --hidden 256 --inter 1024 --experts 4 --tokens 512 --gated --activation silu --timeout-ms 120000 --verify-tokens 4 --iters 1 > $OUT/race.log 2>&1
echo "=== racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' $OUT/race.log) $(grep -c PASS $OUT/race.log) pass"
grep -oE "(Write|Read) access at [a-z0-9_]+\+0x[0-9a-f]+" $OUT/race.log | sort | uniq -c | sort -rn | head -20
echo "=== elapsed ${SECONDS}s"
