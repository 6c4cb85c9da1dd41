#!/bin/bash
# Session 24, call 6 (1 GPU). (1) Branch task-clock before merging: its new test (the clock
# counts every GEMM task by kind) and the ws suites. (2) c5's finding on more layers: sustained
# back-to-back forwards of flashmoe and of the cuBLAS ideal with nvidia-smi sampling SM clock
# and power (4096/128 k=2; SwiGLU 16384/32 with nothing dropped against a gated ideal).
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c6.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
t() { local s=$SECONDS; env $2 timeout -k 2 ${4:-150} /tmp/p/$1/$3 --include-ignored --test-threads=1 --nocapture > /tmp/o/t-$1-$3.log 2>&1; echo "=== $1 $3 rc=$? in $((SECONDS-s))s $(grep 'test result' /tmp/o/t-$1-$3.log | tail -1)"; grep -E "panick|FAILED" /tmp/o/t-$1-$3.log | cut -c1-300 | head -8; }
t CLK X=1 test-test-ws_forward
grep -E "^kind " /tmp/o/t-CLK-test-test-ws_forward.log
t CLK FLASHMOE_TEST_MAINLOOP=ws test-test-moe_single_gpu
t CLK FLASHMOE_TEST_MAINLOOP=ws test-test-moe_reliability
smi() { nvidia-smi --query-gpu=clocks.sm,power.draw,temperature.gpu,clocks_throttle_reasons.active --format=csv,noheader,nounits -lms 50 > /tmp/o/smi-$1.csv & SMI=$!; }
summ() { kill $SMI; sleep 0.2; python3 - /tmp/o/smi-$1.csv $1 <<'PY'
import sys,statistics as st
from collections import Counter
rows=[l.split(',') for l in open(sys.argv[1]) if l.strip()]
busy=[(float(r[0]),float(r[1]),r[3].strip()) for r in rows if float(r[1])>250]
if not busy: print(sys.argv[2],'no busy samples',len(rows)); sys.exit()
clk=[b[0] for b in busy]; pw=[b[1] for b in busy]
print(f"{sys.argv[2]}: {len(busy)} busy samples: SM clock median {st.median(clk):.0f} MHz (min {min(clk):.0f}), power median {st.median(pw):.0f} W (max {max(pw):.0f}), throttle {Counter(b[2] for b in busy).most_common(2)}")
PY
}
cat > /tmp/ideal.py <<'PY'
import torch, sys
E, M, H, I, gated, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == '1', int(sys.argv[6])
g = torch.Generator(device='cuda').manual_seed(0)
x = torch.randn(E, M, H, device='cuda', dtype=torch.bfloat16, generator=g)
w1 = torch.randn(E, I, H, device='cuda', dtype=torch.bfloat16, generator=g) / 45
w3 = torch.randn(E, I, H, device='cuda', dtype=torch.bfloat16, generator=g) / 45
w2 = torch.randn(E, H, I, device='cuda', dtype=torch.bfloat16, generator=g) / 45
def f():
    h = torch.bmm(x, w1.transpose(1, 2))
    h = torch.nn.functional.silu(h) * torch.bmm(x, w3.transpose(1, 2)) if gated else torch.relu(h)
    return torch.bmm(h, w2.transpose(1, 2))
for _ in range(20): f()
torch.cuda.synchronize()
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
s.record()
for _ in range(n): f()
e.record(); torch.cuda.synchronize()
print(f"ideal E={E} M={M} gated={gated}: {s.elapsed_time(e) / n:.3f} ms per forward over {n}")
PY
B=/tmp/p/CLK/bin-bin-flashmoe
smi f4k; $B run --gpus 1 --tokens 4096 --experts 128 --verify-tokens 4 --iters 3000 | grep -E "forward:"; summ f4k
smi i4k; python3 /tmp/ideal.py 128 64 2048 2048 0 3000; summ i4k
smi fsw; $B run --gpus 1 --tokens 16384 --experts 32 --gated --activation silu --capacity-factor 0 --verify-tokens 4 --iters 1500 | grep -E "forward:"; summ fsw
smi isw; python3 /tmp/ideal.py 32 1024 2048 2048 1 1500; summ isw
echo "=== elapsed ${SECONDS}s"
