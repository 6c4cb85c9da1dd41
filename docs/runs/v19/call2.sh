#!/bin/bash
# session 12, call 2 (x2): ws-sync (M: start barrier by arrive/sync, convergent barriers) + cluster probe v2 + ws tile by expert panels; A/B against main (N)
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 NVSHMEM_REMOTE_TRANSPORT=none
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/b.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
M=/tmp/p/M; B=$M/bin-bin-flashmoe
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-60} $M/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL|TFLOP|cooperative|status|hung|ran:" /tmp/t.log | cut -c1-220 | head -12; cp /tmp/t.log /tmp/o/$2-$(echo $1$3 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
t X=1 test-test-cluster_probe a_box_multicast 30
t X=1 test-test-cluster_probe a_cooperative 30
t X=1 test-test-ws_tile "" 90
t X=1 test-test-ws_forward "" 60
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_multi_gpu "" 120
t FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu "" 150
timeout -k 2 100 compute-sanitizer --tool synccheck --print-limit 5 $B run --gpus 1 --tokens 1000 --experts 8 --hidden 256 --inter 512 --gated --bias --activation gelu --mainloop ws --iters 1 --verify-tokens 4 > /tmp/o/san-ws-synccheck.log 2>&1; echo "synccheck ws rc=$? $(grep -E 'ERROR SUMMARY|PASS' /tmp/o/san-ws-synccheck.log | tr '\n' ' ') at ${SECONDS}s"
grep -E "at moe|by thread" /tmp/o/san-ws-synccheck.log | head -4
med() { grep -oP "forward: median \K[0-9.]+ ms \(min [0-9.]+\)" /tmp/r.log; }
G="--gated --activation silu --capacity-factor 0"; X="--hidden 4096 --inter 14336 --experts 8"
i=0
for cfg in "--tokens 16384 --experts 32" "$G --tokens 16384 --experts 32" "--tokens 8192 --experts 64" "$G $X --tokens 4096"; do for rep in 1 2; do for v in N M; do i=$((i+1))
  timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; echo "[$cfg] $v: rc=$? $(med) $(grep -c PASS /tmp/r.log)pass"; cp /tmp/r.log /tmp/o/run-$i-$v.log; done; done; done
echo "=== A/B done at ${SECONDS}s"
timeout -k 2 130 compute-sanitizer --tool memcheck --print-limit 5 $B run --gpus 1 --tokens 64 --experts 8 --hidden 256 --inter 256 --mainloop ws --iters 1 --verify-tokens 4 > /tmp/o/san-ws-memcheck.log 2>&1; echo "memcheck ws rc=$? $(grep -E 'ERROR SUMMARY|PASS' /tmp/o/san-ws-memcheck.log | tr '\n' ' ') at ${SECONDS}s"
echo "=== elapsed ${SECONDS}s"
