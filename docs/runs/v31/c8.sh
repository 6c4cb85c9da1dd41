#!/bin/bash
# Session 24, call 8 (1 GPU). Energy per forward, same call: flashmoe (`run`'s NVML report,
# main 4b9425c+ with the energy counter) and the cuBLAS ideal (torch.bmm over balanced experts;
# NVML's counter read through ctypes), 30 forwards and 2000 back to back. Predicted from c5/c6
# (power x time): flashmoe ~0.8 J at 16384/32 against ~0.6 for the ideal; the sustained time
# ratio close to the energy ratio.
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p && tar xJf .gpuws/c8.tar.xz -C /tmp/p
B=/tmp/p/PW/bin-bin-flashmoe
cat > /tmp/ideal.py <<'PY'
import ctypes, statistics, sys, time, torch
nv = ctypes.CDLL("libnvidia-ml.so.1"); nv.nvmlInit_v2()
h = ctypes.c_void_p(); nv.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(h))
def energy():
    e = ctypes.c_ulonglong(); nv.nvmlDeviceGetTotalEnergyConsumption(h, ctypes.byref(e)); return e.value
def clock():
    c = ctypes.c_uint(); nv.nvmlDeviceGetClockInfo(h, 1, ctypes.byref(c)); return c.value
E, M, gated = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == '1'
H = I = 2048
g = torch.Generator(device='cuda').manual_seed(0)
x = torch.randn(E, M, H, device='cuda', dtype=torch.bfloat16, generator=g)
w1, w3 = [torch.randn(E, I, H, device='cuda', dtype=torch.bfloat16, generator=g) / 45 for _ in range(2)]
w2 = torch.randn(E, H, I, device='cuda', dtype=torch.bfloat16, generator=g) / 45
def f():
    h = torch.bmm(x, w1.transpose(1, 2))
    h = torch.nn.functional.silu(h) * torch.bmm(x, w3.transpose(1, 2)) if gated else torch.relu(h)
    return torch.bmm(h, w2.transpose(1, 2))
for n in (30, 2000):
    time.sleep(1.0)
    for _ in range(5): f()
    torch.cuda.synchronize()
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
    e0, clocks = energy(), []
    for s, e in ev:
        s.record(); f(); e.record(); e.synchronize()
        if len(clocks) < 400: clocks.append(clock())
    e1 = energy()
    ms = statistics.median(s.elapsed_time(e) for s, e in ev)
    print(f"ideal E={E} M={M} gated={gated} n={n}: median {ms:.3f} ms, {(e1 - e0) / n:.0f} mJ per forward, SM clock median {statistics.median(clocks)} MHz")
PY
for cfg in "32 1024 0|--tokens 16384 --experts 32" "64 256 0|--tokens 8192 --experts 64" "128 64 0|--tokens 4096 --experts 128" "32 1024 1|--tokens 16384 --experts 32 --gated --activation silu --capacity-factor 0"; do
  i=${cfg%%|*}; f=${cfg#*|}
  for it in 30 2000; do sleep 1; echo "--- flashmoe [$f] iters $it: $($B run --gpus 1 $f --verify-tokens 4 --iters $it | grep -E "forward:|power:" | sed -E 's/ TFLOP.*//; s/board power/power/' | tr '\n' ' ')"; done
  python3 /tmp/ideal.py $i
done
echo "=== elapsed ${SECONDS}s"
