#!/usr/bin/env python3
"""PyTorch Megatron-style MoE baseline for flashmoe's benchmarks.

One process per GPU (torch.multiprocessing); for world > 1 tokens travel with NCCL
all_to_all_single. Per forward: gate GEMM, softmax, top-k (+ renormalisation), capacity drop in
token order, permute (sort by expert), expert FFNs, un-permute with weighted index_add.
The expert GEMMs run two ways, both timed, the faster reported:
  - "grouped": torch._grouped_mm over all local experts (PyTorch >= 2.8 on sm_90),
  - "loop":    one matmul pair per local expert.

Input: a JSON list of configs on stdin ({"tokens", "experts", "hidden", "inter", "top_k",
"world", "dtype", "gated"}). Output: one JSON line per config with the median ms of each variant.
"""
import json
import os
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WARMUP, ITERS = 5, 20


def act(h, gated):
    if gated:
        a, g = h.chunk(2, dim=-1)
        return torch.nn.functional.silu(a) * g
    return torch.relu(h)


def forward(x, wg, w1, w2, cfg, world, variant):
    """One MoE layer forward on this rank's tokens; experts are split evenly over ranks."""
    E, k = cfg["experts"], cfg["top_k"]
    T = x.shape[0]
    local = E // world
    cap = min(T, -(-T * k // E))
    logits = x @ wg.t()
    probs = torch.softmax(logits.float(), dim=-1)
    w, idx = torch.topk(probs, k, dim=-1)
    w = (w / w.sum(dim=-1, keepdim=True)).to(x.dtype)
    flat = idx.flatten()
    order = torch.argsort(flat, stable=True)  # token order within each expert
    counts = torch.bincount(flat, minlength=E)
    starts = torch.cumsum(counts, 0) - counts
    rank_in_expert = torch.arange(flat.numel(), device=x.device) - starts[flat[order]]
    keep = order[rank_in_expert < cap]  # capacity drop in token order
    kept_expert = flat[keep]
    send_counts = torch.bincount(kept_expert, minlength=E).clamp(max=cap)
    rows = x[keep // k]
    if world > 1:
        per_rank = send_counts.view(world, local).sum(1)
        recv_counts = torch.empty_like(per_rank)
        dist.all_to_all_single(recv_counts, per_rank)
        expert_counts = torch.empty_like(send_counts)
        dist.all_to_all_single(expert_counts, send_counts)
        recv = rows.new_empty((int(recv_counts.sum()), x.shape[1]))
        dist.all_to_all_single(recv, rows, recv_counts.tolist(), per_rank.tolist())
        # Received rows are grouped by source, then expert: regroup by local expert.
        ec = expert_counts.view(world, local)
        src_expert = torch.repeat_interleave(torch.arange(local, device=x.device).repeat(world), ec.flatten())
        perm = torch.argsort(src_expert, stable=True)
        h_in = recv[perm]
        local_counts = ec.sum(0)
    else:
        h_in, local_counts, perm = rows, send_counts, None
    offs = torch.cumsum(local_counts, 0).to(torch.int32)
    if variant == "grouped":
        h = torch._grouped_mm(h_in, w1.transpose(-2, -1), offs=offs)
        y = torch._grouped_mm(act(h, cfg["gated"]), w2.transpose(-2, -1), offs=offs)
    else:
        y = torch.empty_like(h_in)
        lo = 0
        for e, c in enumerate(local_counts.tolist()):
            if c:
                y[lo:lo + c] = act(h_in[lo:lo + c] @ w1[e].t(), cfg["gated"]) @ w2[e].t()
            lo += c
    if world > 1:
        back = torch.empty_like(y)
        back[perm] = y
        out_rows = rows.new_empty(rows.shape)
        dist.all_to_all_single(out_rows, back, per_rank.tolist(), recv_counts.tolist())
    else:
        out_rows = y
    out = torch.zeros_like(x)
    out.index_add_(0, keep // k, out_rows * w.flatten()[keep].unsqueeze(1))
    return out


def time_variant(fn):
    for _ in range(WARMUP):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(ITERS):
        if dist.is_initialized():
            dist.barrier()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
    times.sort()
    return times[len(times) // 2]


def run_config(cfg, rank, world):
    dt = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[cfg["dtype"]]
    torch.manual_seed(1234 + rank)
    T, H, I, E = cfg["tokens"], cfg["hidden"], cfg["inter"], cfg["experts"]
    local = E // world
    mult = 2 if cfg["gated"] else 1
    x = torch.randn(T, H, device="cuda", dtype=dt)
    wg = torch.randn(E, H, device="cuda", dtype=dt) / H ** 0.5
    w1 = torch.randn(local, mult * I, H, device="cuda", dtype=dt) / H ** 0.5
    w2 = torch.randn(local, H, I, device="cuda", dtype=dt) / I ** 0.5
    result = {}
    for variant in ("grouped", "loop"):
        try:
            ms = time_variant(lambda: forward(x, wg, w1, w2, cfg, world, variant))
            if world > 1:
                t = torch.tensor([ms], device="cuda")
                dist.all_reduce(t, op=dist.ReduceOp.MAX)
                ms = t.item()
            result[variant] = ms
        except Exception as e:  # grouped_mm missing or unsupported for this dtype/arch
            result[variant + "_error"] = str(e).splitlines()[0][:200]
    del x, wg, w1, w2
    torch.cuda.empty_cache()
    return result


def worker(rank, world, configs, port, queue):
    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    torch.cuda.set_device(rank)
    if world > 1:
        dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    for cfg in configs:
        r = run_config(cfg, rank, world)
        if rank == 0:
            queue.put({**cfg, **r})
    if world > 1:
        dist.destroy_process_group()


def main():
    configs = json.load(sys.stdin)
    by_world = {}
    for c in configs:
        by_world.setdefault(c["world"], []).append(c)
    for world, cs in sorted(by_world.items()):
        if world == 1:
            import queue as q

            out = q.Queue()
            worker(0, 1, cs, 0, out)
            while not out.empty():
                print(json.dumps(out.get()), flush=True)
        else:
            ctx = mp.get_context("spawn")
            out = ctx.Queue()
            port = 29500 + os.getpid() % 1000
            procs = [ctx.Process(target=worker, args=(r, world, cs, port, out)) for r in range(world)]
            for p in procs:
                p.start()
            for _ in cs:
                print(json.dumps(out.get()), flush=True)
            for p in procs:
                p.join()


if __name__ == "__main__":
    main()
