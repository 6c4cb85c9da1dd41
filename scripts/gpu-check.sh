#!/usr/bin/env bash
# On the GPU machine, from the repo root, after scripts/bundle.sh (or ../shared/tools/gpu-bundle) built .gpu/:
#   bash scripts/gpu-check.sh [stage,stage,...]
# Stages: smoke tile info tiny single shared graph hf reliability os-plan sm80 ws multi mp run ab old bench gated decode ncu sanitize
# (default: all but ab, old, gated, decode, ncu, sanitize, sm80). `graph`: CUDA-graph replays (tests/forward_graph.rs)
# and the host time per forward of the tiny decode layer, plain and graph-replayed. `bench`: `flashmoe bench` (the single-GPU sweep with its
# cuBLAS-ideal and grouped-GEMM columns; the multi-GPU sweeps on several GPUs). `gated`: the SwiGLU
# sweep of the Liger-Kernel comparison (`flashmoe bench --sweeps gated`; Liger's Triton autotuning takes
# minutes, LIGER_FUSED_MOE_AUTOTUNE=0 pins one config). Both first install the liger-kernel wheel
# from .whl/ when there is one. `sm80`: the single-GPU and reliability suites on the Ampere PTX build
# (FLASHMOE_TEST_ARCH=sm_80; Hopper JIT-compiles it) and the default layer with --arch sm80. `old`: .gpu/old-flashmoe (a previous build, if packed) on the default layer, for
# before/after timings in one run. `sanitize`: memcheck, racecheck and synccheck on the smallest
# case, memcheck on the injected-fault cases (a bad value must never become an access).
# Every step has a time limit; logs, CSV and PNG files are packed into $OUT/results.tgz.
set -u
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 RUST_BACKTRACE=1 PYTHONUNBUFFERED=1
out=/tmp/gpu-check
mkdir -p "$out/bench"
export FLASHMOE_BENCH_OUT=$out/bench
trap 'tar czf "${OUT:-/tmp}/results.tgz" -C "$out" . 2>/dev/null' EXIT
stages=",${1:-smoke,tile,info,tiny,single,shared,graph,hf,multi,run,bench},"
b=.gpu/bin
t() { [[ $stages == *",$1,"* ]]; }
step() { # name seconds cmd...
  local name=$1 secs=$2; shift 2
  echo "=== $name"
  local s=$SECONDS
  timeout -k 5 "$secs" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  grep -E "^(test |GPU|layer|graph|host time|  (forward_device|graph replay|launch|kernel|empty)|verify|forward|set-up|smoke|forced|dropped|sm_|Bf16|F16|F32|peer|copy| +[0-9]|gpus|\(L|##|overlap|baseline|soak|epoch|50 |48 |partial|corrupt|NaN|========= [A-Z]+ SUMMARY| +(dram|lts|sm|smsp|gpu)__)|panicked|error|FAILED|failures|test result|timed out|skipped" "$out/$name.log" | grep -v "^test .* ignored" | cut -c1-300 | tail -n "${TAIL:-60}"
  echo "--- $name: rc=$rc in $((SECONDS - s)) s"
  return $rc
}
nvidia-smi --query-gpu=index,name,memory.used,clocks.sm,clocks.mem --format=csv,noheader
t smoke && step smoke 60 $b/test-test-gpu_smoke --include-ignored --nocapture
t tile && step tile 60 $b/test-test-gemm_tile --include-ignored --nocapture
t info && step info 90 $b/bin-bin-flashmoe info
sanitize() {
  local case=tiny_bf16 tool
  for tool in memcheck racecheck synccheck; do
    TAIL=12 step "sanitize-$tool" 240 compute-sanitizer --tool $tool --print-limit 20 $b/test-test-moe_single_gpu --include-ignored --nocapture --test-threads=1 $case
  done
  for case in a_count_out_of_bounds non_finite_inputs a_partial_launch_failure; do
    TAIL=12 step "sanitize-memcheck-$case" 240 compute-sanitizer --tool memcheck --print-limit 20 $b/test-test-moe_reliability --include-ignored --nocapture --test-threads=1 $case
  done
}
if t tiny && ! step tiny 90 $b/test-test-moe_single_gpu --include-ignored --nocapture --test-threads=1 tiny_bf16; then
  sanitize  # the smallest case failed: find out why, skip the rest
  exit 0
fi
t single && step single 150 $b/test-test-moe_single_gpu --include-ignored --nocapture --test-threads=1 --skip tiny_bf16
t shared && step shared 300 $b/test-test-moe_shared_expert --include-ignored --nocapture --test-threads=1
t graph && TAIL=40 step graph 240 $b/test-test-forward_graph --include-ignored --nocapture --test-threads=1
t hf && step hf 150 $b/test-test-hf_layers --include-ignored --nocapture --test-threads=1
t reliability && step reliability 300 $b/test-test-moe_reliability --include-ignored --nocapture --test-threads=1
# `os-plan`: the single-GPU and reliability suites with decode forwards kept on the OS plan (the
# default runs the static decode plan wherever it applies, docs/decode-plan.md).
t os-plan && FLASHMOE_TEST_STATIC_PLAN=0 step os-plan-single 150 $b/test-test-moe_single_gpu --include-ignored --nocapture --test-threads=1
t os-plan && FLASHMOE_TEST_STATIC_PLAN=0 step os-plan-reliability 300 $b/test-test-moe_reliability --include-ignored --nocapture --test-threads=1
t sm80 && FLASHMOE_TEST_ARCH=sm_80 step sm80-single 150 $b/test-test-moe_single_gpu --include-ignored --nocapture --test-threads=1
t sm80 && FLASHMOE_TEST_ARCH=sm_80 step sm80-shared 300 $b/test-test-moe_shared_expert --include-ignored --nocapture --test-threads=1
t sm80 && FLASHMOE_TEST_ARCH=sm_80 step sm80-reliability 300 $b/test-test-moe_reliability --include-ignored --nocapture --test-threads=1
t sm80 && step sm80-run1 90 $b/bin-bin-flashmoe run --gpus 1 --arch sm80
t multi && step multi 150 $b/test-test-moe_multi_gpu --include-ignored --nocapture --test-threads=1
# `mp`: one process per GPU (a bundle built with GPU_BUNDLE_FEATURES="--features nvshmem"), bitwise
# against the single-process run; NVSHMEM's host library from this machine's python3 wheel.
nvshmem_home() { python3 -c "import nvidia, os; print([os.path.join(p, 'nvshmem') for p in nvidia.__path__ if os.path.isdir(os.path.join(p, 'nvshmem'))][0])"; }
t mp && [ -x $b/test-test-multiprocess ] && NVSHMEM_HOME=${NVSHMEM_HOME:-$(nvshmem_home)} NVSHMEM_REMOTE_TRANSPORT=none FLASHMOE_BIN=$b/bin-bin-flashmoe \
  step mp 300 $b/test-test-multiprocess --include-ignored --nocapture --test-threads=1
t run && step run1 90 $b/bin-bin-flashmoe run --gpus 1
t run && step run 90 $b/bin-bin-flashmoe run
t run && step run1-shared 90 $b/bin-bin-flashmoe run --gpus 1 --shared-inter 1024
t run && step run1-shared-gate 90 $b/bin-bin-flashmoe run --gpus 1 --shared-inter 2048 --shared-gate
t old && [ -x .gpu/old-flashmoe ] && step run1-old 90 .gpu/old-flashmoe run --gpus 1
t old && step run1-again 90 $b/bin-bin-flashmoe run --gpus 1
t ab && step run1-mma-sync 90 $b/bin-bin-flashmoe run --gpus 1 --mainloop mma-sync
# `ws`: the warp-specialized engine (128x256 tiles): its pipeline alone, the hang probe, the
# single-GPU and reliability suites with their 16-bit layers on it, and the reference layers
# beside the default engine.
t ws && step ws-tile 120 $b/test-test-ws_tile --include-ignored --nocapture --test-threads=1
t ws && step ws-forward 60 $b/test-test-ws_forward --include-ignored --nocapture --test-threads=1
t ws && FLASHMOE_TEST_MAINLOOP=ws step ws-single 150 $b/test-test-moe_single_gpu --include-ignored --nocapture --test-threads=1
t ws && FLASHMOE_TEST_MAINLOOP=ws step ws-reliability 300 $b/test-test-moe_reliability --include-ignored --nocapture --test-threads=1
t ws && FLASHMOE_TEST_MAINLOOP=ws TAIL=20 step ws-graph 240 $b/test-test-forward_graph --include-ignored --nocapture --test-threads=1
t ws && FLASHMOE_TEST_MAINLOOP=ws TAIL=12 step ws-synccheck 120 compute-sanitizer --tool synccheck --print-limit 5 $b/test-test-moe_single_gpu --include-ignored --nocapture --test-threads=1 tiny_bf16
for cfg in "--tokens 16384 --experts 32" "--tokens 4096 --experts 128" "--gated --activation silu --capacity-factor 0 --tokens 8192 --experts 64" \
  "--gated --activation silu --capacity-factor 0 --tokens 4096 --experts 8 --hidden 4096 --inter 14336"; do
  t ws && TAIL=3 step "ws${cfg// /}" 60 $b/bin-bin-flashmoe run --gpus 1 --mainloop ws $cfg --verify-tokens 8 --iters 20
  t ws && TAIL=3 step "default${cfg// /}" 60 $b/bin-bin-flashmoe run --gpus 1 $cfg --verify-tokens 8 --iters 20
done
t sanitize && sanitize
liger_site() { # the baseline's optional Liger-Kernel (pure Triton) from .whl/: no network on this machine
  ls .whl/*.whl >/dev/null 2>&1 || return 0
  if python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl; then
    export PYTHONPATH=/tmp/site && echo "baseline: $(cd .whl && ls *.whl | tr '\n' ' ')installed into /tmp/site"
  else
    echo "baseline: installing .whl/*.whl failed; the baseline runs without liger"
  fi
}
(t bench || t gated) && liger_site
t bench && TAIL=80 step bench 400 $b/bin-bin-flashmoe bench
# The gated layers of the Liger comparison, verified (16 tokens against the f64 reference), then timed.
for g in "16384 32 2048 2048" "8192 64 2048 2048" "4096 8 4096 14336"; do
  read -r gt ge gh gi <<<"$g"
  t gated && TAIL=6 step "gated-verify-T$gt-E$ge" 120 $b/bin-bin-flashmoe run --gpus 1 --gated --activation silu --capacity-factor 0 \
    --tokens "$gt" --experts "$ge" --hidden "$gh" --inter "$gi" --verify-tokens 16 --iters 5
done
t gated && TAIL=40 step bench-gated 480 $b/bin-bin-flashmoe bench --sweeps gated
t decode && TAIL=40 step bench-decode 300 $b/bin-bin-flashmoe bench --sweeps decode
# Nsight Compute on one forward of the two reference configurations of the tile-engine issue.
NCU_METRICS=sm__pipe_tensor_cycles_active.avg.pct_of_peak_sustained_active,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,sm__warps_active.avg.pct_of_peak_sustained_active,smsp__warp_issue_stalled_barrier_per_warp_active.pct,gpu__time_duration.sum
for cfg in "--tokens 16384 --experts 32" "--tokens 128 --experts 64"; do
  t ncu && TAIL=12 step "ncu${cfg// /}" 180 ncu --metrics $NCU_METRICS -k regex:moe_forward -c 1 $b/bin-bin-flashmoe run --gpus 1 $cfg --iters 1 --verify-tokens 1
done
exit 0
