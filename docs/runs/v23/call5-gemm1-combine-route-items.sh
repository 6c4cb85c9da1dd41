#!/bin/bash
# session 16, call 5 (1 GPU): GC = gemm1-combine (static plan: the last GEMM1 task runs the combine), MN = main eb69cf7,
# RI / GD = route-items / gate-dots when packed. Suites on each branch, then A/B on decode points.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
V=$(ls /tmp/p); echo "variants: $V"
t() { local s=$SECONDS; env $1 timeout -k 2 ${5:-60} /tmp/p/$2/$3 --include-ignored --test-threads=1 --nocapture ${4:-} > /tmp/t.log 2>&1; echo "=== $2 $3 $4 rc=$? in $((SECONDS-s))s at ${SECONDS}s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED|^test .*FAIL" /tmp/t.log | cut -c1-200 | head -10; cp /tmp/t.log /tmp/o/$2-$3-$(echo $4 | tr -dc 'A-Za-z0-9' | tail -c 20).log; }
for v in $V; do [ $v = MN ] && continue
  t X=1 $v test-test-moe_single_gpu static_decode_plan 90
  t X=1 $v test-test-moe_single_gpu "" 150
  [ $v = GC ] && t X=1 $v test-test-forward_graph "" 90
done
t X=1 GC test-test-moe_reliability "" 120
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
X="--hidden 4096 --inter 14336 --experts 8 --gated --activation silu --capacity-factor 0"
for cfg in "--tokens 1 --experts 8 --hidden 256 --inter 256" "--tokens 1 --experts 8" "--tokens 1 --experts 64" "--tokens 4 --experts 64" "--tokens 32 --experts 8" "--tokens 8 --experts 64 --gated --activation silu" "$X --tokens 1"; do
  line="[$cfg]"; for rep in 1 2; do for v in $V GC:--no-gemm1-combine; do d=${v%%:*}; a=""; [ "$d" != "$v" ] && a=${v#*:}
    timeout -k 2 60 /tmp/p/$d/bin-bin-flashmoe run --gpus 1 $cfg $a --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $d$a:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== A/B done at ${SECONDS}s"
for v in $V; do timeout -k 2 60 /tmp/p/$v/test-test-forward_graph --include-ignored --test-threads=1 --nocapture host_time_per_forward 2>&1 | grep -E "mean" | head -4 | sed "s/^/$v: /"; done
echo "=== elapsed ${SECONDS}s"
