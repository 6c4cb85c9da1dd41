#!/bin/bash
# session 18, call 3 (1 GPU): M = stream-rows ea6f238 (the merge candidate: own rows streamed by default on ws; finish's
# run bounds), L = M + two stores in flight (e011d83), SAN = M built with FLASHMOE_SANITIZE=1.
# M's suites (both engines, HF conformance), compute-sanitizer on streamed layers, A/B M vs L.
set -u
export RUST_BACKTRACE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c3.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $1 timeout -k 2 ${4:-90} /tmp/p/M/$2 --include-ignored --test-threads=1 --nocapture ${3:-} > /tmp/t.log 2>&1; echo "=== $1 $2 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/t.log | tail -1)"; grep -E "panick|FAILED" /tmp/t.log | cut -c1-300 | head -10; cp /tmp/t.log /tmp/o/$2-$(echo $1 | tr -dc 'A-Z01' | tail -c 12).log; }
t X=1 test-test-ws_forward "" 90
t X=1 test-test-moe_single_gpu "" 150
t "FLASHMOE_TEST_MAINLOOP=ws" test-test-moe_single_gpu "" 150
t "FLASHMOE_TEST_MAINLOOP=ws" test-test-moe_reliability "" 120
t X=1 test-test-moe_reliability "" 120
t X=1 test-test-forward_graph "" 90
t X=1 test-test-moe_shared_expert "" 90
t X=1 test-test-gemm_tile "" 60
t X=1 test-test-ws_tile "" 60
timeout 150 python3 benches/hf_conformance.py --out /tmp/hfc > /tmp/o/hfc.log 2>&1; echo "hf_conformance.py rc=$? at ${SECONDS}s"; tail -1 /tmp/o/hfc.log
t FLASHMOE_HF_CONFORMANCE=/tmp/hfc test-test-hf_layers "" 150
B=/tmp/p/SAN/bin-bin-flashmoe
i=0; for cfg in "--hidden 256 --inter 1024 --experts 4 --tokens 512 --gated --activation silu" "--hidden 512 --inter 1024 --experts 4 --tokens 700 --top-k 3"; do
  for tool in memcheck synccheck racecheck; do i=$((i+1))
    timeout -k 2 150 compute-sanitizer --tool $tool $B run --gpus 1 --mainloop ws --max-blocks 4 --stream-rows $cfg --timeout-ms 120000 --verify-tokens 4 --iters 1 > /tmp/o/s$i.log 2>&1
    echo "=== $tool [$cfg] rc=$? at ${SECONDS}s: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/o/s$i.log | tail -1) $(grep -cE 'PASS' /tmp/o/s$i.log) pass $(grep -o 'own rows streamed' /tmp/o/s$i.log | head -1)"
    grep -E "Race reported|Error:" /tmp/o/s$i.log | sed 's/0x[0-9a-f]*/X/g' | sort | uniq -c | head -4
  done
done
med() { grep -oP "forward: median \K[0-9.]+" /tmp/r.log; }
for cfg in "--tokens 16384 --experts 32 --gated --activation silu" "--tokens 16384 --experts 32" "--tokens 8192 --experts 64 --gated --activation silu"; do
  line="[$cfg]"; for rep in 1 2; do for v in M L; do
    timeout -k 2 90 /tmp/p/$v/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 4 --iters 30 > /tmp/r.log 2>&1; line="$line $v:$(med)$( [ $(grep -c PASS /tmp/r.log) = 1 ] || echo FAIL)"; done; done; echo "$line"; done
echo "=== elapsed ${SECONDS}s"
