#!/bin/bash
# Session 24, call 5 (1 GPU). c4: RR cut GEMM1's finish 1.3 -> 0.2 us a task, yet the forward
# moved 0.2%: the consumers' mainloops stretched by what the rest saved (as c1's L2-hot
# operands bought only 3%). Hypothesis: a shared limit, e.g. the SM clock under the power cap.
# nvidia-smi samples SM clock, power and throttle reasons every 50 ms while (a) flashmoe
# forwards 16384/32 back to back, (b) the cuBLAS ideal (torch.bmm, balanced, same FLOPs) runs
# back to back, (c) flashmoe 8192/64. Predicted: if the power cap binds, flashmoe's clock sits
# below the ideal's (e.g. 1.6-1.7 vs 1.8-1.98 GHz) with the SW power-cap reason set.
set -u
export RUST_BACKTRACE=1 NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/p /tmp/o && tar xJf .gpuws/c5.tar.xz -C /tmp/p
trap 'tar czf $OUT/logs.tgz -C /tmp o' EXIT
smi() { nvidia-smi --query-gpu=clocks.sm,power.draw,temperature.gpu,clocks_throttle_reasons.active --format=csv,noheader,nounits -lms 50 > /tmp/o/smi-$1.csv & SMI=$!; }
summ() { kill $SMI; sleep 0.2; python3 - /tmp/o/smi-$1.csv $1 <<'PY'
import sys,statistics as st
rows=[l.split(',') for l in open(sys.argv[1]) if l.strip()]
busy=[(float(r[0]),float(r[1]),int(r[3].strip(),16) if r[3].strip().startswith('0x') else r[3].strip()) for r in rows if float(r[1])>250]
if not busy: print(sys.argv[2],'no busy samples',len(rows)); sys.exit()
clk=[b[0] for b in busy]; pw=[b[1] for b in busy]
from collections import Counter
print(f"{sys.argv[2]}: {len(busy)} busy samples of {len(rows)}: SM clock median {st.median(clk):.0f} MHz (min {min(clk):.0f}, max {max(clk):.0f}), power median {st.median(pw):.0f} W (max {max(pw):.0f}), throttle reasons {Counter(b[2] for b in busy).most_common(3)}")
PY
}
nvidia-smi --query-gpu=name,power.limit,clocks.max.sm,clocks.applications.graphics --format=csv
B=/tmp/p/M/bin-bin-flashmoe
smi fused16k; $B run --gpus 1 --tokens 16384 --experts 32 --verify-tokens 4 --iters 2500 | grep -E "forward:"; summ fused16k
cat > /tmp/ideal.py <<'PY'
import torch, time, sys
E, M, H, I = int(sys.argv[1]), int(sys.argv[2]), 2048, 2048
g = torch.Generator(device='cuda').manual_seed(0)
x = torch.randn(E, M, H, device='cuda', dtype=torch.bfloat16, generator=g)
w1 = torch.randn(E, I, H, device='cuda', dtype=torch.bfloat16, generator=g) / 45
w2 = torch.randn(E, H, I, device='cuda', dtype=torch.bfloat16, generator=g) / 45
def f():
    return torch.bmm(torch.relu(torch.bmm(x, w1.transpose(1, 2))), w2.transpose(1, 2))
for _ in range(20): f()
torch.cuda.synchronize()
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
n = int(sys.argv[3]); s.record()
for _ in range(n): f()
e.record(); torch.cuda.synchronize()
print(f"ideal E={E} M={M}: {s.elapsed_time(e) / n:.3f} ms per forward over {n}")
PY
smi ideal16k; python3 /tmp/ideal.py 32 1024 2500; summ ideal16k
smi fused8k; $B run --gpus 1 --tokens 8192 --experts 64 --verify-tokens 4 --iters 4000 | grep -E "forward:"; summ fused8k
smi ideal8k; python3 /tmp/ideal.py 64 256 4000; summ ideal8k
echo "=== elapsed ${SECONDS}s"
