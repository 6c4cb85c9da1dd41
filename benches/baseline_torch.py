#!/usr/bin/env python3
"""PyTorch Megatron-style MoE baseline for flashmoe's benchmarks.

One process per GPU (torch.multiprocessing); for world > 1 tokens travel with NCCL
all_to_all_single. Per forward: gate GEMM, softmax, top-k (+ renormalisation), capacity drop in
token order, permute (sort by expert), expert FFNs, un-permute with weighted index_add.
The expert GEMMs of that full layer run two ways, both timed, the faster reported:
  - "grouped": torch._grouped_mm over all local experts (PyTorch >= 2.8 on sm_90),
  - "loop":    one matmul pair per local expert.
On one GPU (world = 1), three more columns, in the same process (CUDA events, warm-up, median):
  - "ideal":        cuBLAS torch.bmm over perfectly balanced experts: each of the E experts gets
                    exactly ceil(T·k/E) rows; GEMM0 ([rows, H] x [H, I], or [H, 2I] gated),
                    activation (ReLU, or SiLU(a)·b gated), GEMM1 ([rows, I] x [I, H]). No gate,
                    no gather, no combine: the compute floor of unfused cuBLAS.
  - "grouped_gemm": torch._grouped_mm on the real routed rows (softmax top-k router over random
                    inputs, capacity drop as above), already gathered and sorted by expert before
                    timing: GEMM0 + activation + GEMM1 only. null without torch._grouped_mm.
  - "liger":        Liger-Kernel's fused MoE (liger_kernel.ops.fused_moe.LigerFusedMoEFunction,
                    Triton: routing metadata, gather + GEMM0 + SwiGLU, GEMM1, weighted combine)
                    behind the same torch router (gate GEMM, softmax, top-k, renormalisation).
                    Gated (SwiGLU) layers only; it never drops (exact match for capacity_factor
                    null). null when liger_kernel cannot be imported or the layer is not gated.
Dtype is the layer's; gated layers use SiLU, others ReLU.

Input: a JSON list of configs on stdin ({"tokens", "experts", "hidden", "inter", "top_k",
"world", "dtype", "gated"} and optionally "capacity_factor": a number, or null = never drop;
default 1). Output: one JSON line per config (the config echoed, then the median ms of each
variant, null or absent when it could not run, plus "<variant>_error" saying why). Notes, such
as why a variant is unavailable, go to stderr as lines starting with "baseline:".
"""
import json
import math
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WARMUP, ITERS = 5, 20
_NOTED = set()


def note(msg):
    """One line on stderr, once per distinct message."""
    if msg not in _NOTED:
        _NOTED.add(msg)
        print(f"baseline: {msg}", file=sys.stderr, flush=True)


def act(h, gated):
    if gated:
        a, g = h.chunk(2, dim=-1)
        return torch.nn.functional.silu(a) * g
    return torch.relu(h)


def capacity(cfg, T):
    """Rows one source GPU may send to one expert, as flashmoe's config computes it:
    ceil(T·k/E · factor) clamped to [1, T]; a null factor never drops (capacity T)."""
    f = cfg.get("capacity_factor", 1.0)
    if f is None:
        return T
    return int(min(max(math.ceil(T * cfg["top_k"] / cfg["experts"] * f), 1), T))


def router(x, wg, k):
    """Gate GEMM, softmax, top-k, renormalised weights: (weights in x's dtype, expert ids)."""
    probs = torch.softmax((x @ wg.t()).float(), dim=-1)
    w, idx = torch.topk(probs, k, dim=-1)
    return (w / w.sum(dim=-1, keepdim=True)).to(x.dtype), idx


def route(x, wg, cfg):
    """Routing with the capacity drop in token order: (weights, flat indices of the kept
    (token, choice) pairs sorted by expert, rows per expert)."""
    E, k = cfg["experts"], cfg["top_k"]
    cap = capacity(cfg, x.shape[0])
    w, idx = router(x, wg, k)
    flat = idx.flatten()
    order = torch.argsort(flat, stable=True)  # token order within each expert
    counts = torch.bincount(flat, minlength=E)
    starts = torch.cumsum(counts, 0) - counts
    rank_in_expert = torch.arange(flat.numel(), device=x.device) - starts[flat[order]]
    keep = order[rank_in_expert < cap]  # capacity drop in token order
    send_counts = torch.bincount(flat[keep], minlength=E).clamp(max=cap)
    return w, keep, send_counts


def grouped_ffn(h_in, offs, w1, w2, gated):
    """Expert FFNs with torch._grouped_mm over rows sorted by expert (`offs`: cumulative ends)."""
    h = torch._grouped_mm(h_in, w1.transpose(-2, -1), offs=offs)
    return torch._grouped_mm(act(h, gated), w2.transpose(-2, -1), offs=offs)


def forward(x, wg, w1, w2, cfg, world, variant):
    """One MoE layer forward on this rank's tokens; experts are split evenly over ranks."""
    E, k = cfg["experts"], cfg["top_k"]
    local = E // world
    w, keep, send_counts = route(x, wg, cfg)
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
        y = grouped_ffn(h_in, offs, w1, w2, cfg["gated"])
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


def ideal_ffn(xb, w1, w2, gated):
    """cuBLAS batched GEMMs over balanced experts: xb [E, rows, H] -> [E, rows, H]."""
    h = torch.bmm(xb, w1.transpose(1, 2))
    return torch.bmm(act(h, gated), w2.transpose(1, 2))


_LIGER = []


def liger_moe():
    """Liger-Kernel's fused MoE autograd function, or None (a note says why)."""
    if not _LIGER:
        try:
            from liger_kernel.ops.fused_moe import LigerFusedMoEFunction

            try:
                from importlib.metadata import version

                v = version("liger-kernel")
            except Exception:  # metadata missing: still usable
                v = "?"
            note(f"liger-kernel {v}: liger_kernel.ops.fused_moe.LigerFusedMoEFunction")
            _LIGER.append(LigerFusedMoEFunction)
        except Exception as e:  # not installed, or triton / a dependency missing
            note(f"liger unavailable: {first_line(e)}")
            _LIGER.append(None)
    return _LIGER[0]


def liger_forward(fn, x, wg, w1, w2, k):
    """The torch router, then Liger's fused experts + combine. w1: [E, 2I, H] (gate rows, then
    up rows, as act() splits them), w2: [E, H, I]; top-k ids int32 [T, k], weights [T, k]."""
    with torch.no_grad():
        w, idx = router(x, wg, k)
        return fn.apply(x, w1, w2, idx.to(torch.int32), w)


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


def first_line(e):
    return f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}"


def single_gpu_variants(cfg, x, wg, w1, w2, result):
    """The one-GPU-only columns: ideal, grouped_gemm, liger (each null when it cannot run)."""
    T, H, E, k, gated = cfg["tokens"], cfg["hidden"], cfg["experts"], cfg["top_k"], cfg["gated"]
    what = f"T={T} E={E} H={H} I={cfg['inter']}{' gated' if gated else ''}"
    for key in ("ideal", "grouped_gemm", "liger"):
        result[key] = None
    try:
        xb = torch.randn(E, -(-T * k // E), H, device="cuda", dtype=x.dtype)
        result["ideal"] = time_variant(lambda: ideal_ffn(xb, w1, w2, gated))
        del xb
    except Exception as e:
        result["ideal_error"] = first_line(e)
        note(f"ideal failed ({what}): {result['ideal_error']}")
    if hasattr(torch, "_grouped_mm"):
        try:
            _, keep, counts = route(x, wg, cfg)
            h_in = x[keep // k].contiguous()  # gathered and sorted by expert, before timing
            offs = torch.cumsum(counts, 0).to(torch.int32)
            result["grouped_gemm"] = time_variant(lambda: grouped_ffn(h_in, offs, w1, w2, gated))
            del h_in
        except Exception as e:  # unsupported for this dtype / arch
            result["grouped_gemm_error"] = first_line(e)
            note(f"grouped_gemm failed ({what}): {result['grouped_gemm_error']}")
    else:
        result["grouped_gemm_error"] = "torch._grouped_mm is not available in this torch"
        note(f"grouped_gemm unavailable: torch {torch.__version__} has no torch._grouped_mm")
    if not gated:
        result["liger_error"] = "liger's fused MoE is SwiGLU-only; this layer is not gated"
        return
    fn = liger_moe()
    if fn is None:
        result["liger_error"] = "liger_kernel is not importable"
        return
    try:
        t0 = time.perf_counter()
        liger_forward(fn, x, wg, w1, w2, k)  # the first call compiles and autotunes (Triton)
        torch.cuda.synchronize()
        note(f"liger first call ({what}; Triton compile + autotune): {time.perf_counter() - t0:.1f} s")
        result["liger"] = time_variant(lambda: liger_forward(fn, x, wg, w1, w2, k))
        # Same math as the unfused layer when nothing is dropped: check the API is used right.
        if cfg.get("capacity_factor", 1.0) is None:
            ref = forward(x, wg, w1, w2, cfg, 1, "loop").float()
            got = liger_forward(fn, x, wg, w1, w2, k).float()
            err = ((got - ref).norm() / ref.norm().clamp_min(1e-30)).item()
            note(f"liger check ({what}): rel L2 difference to the unfused layer {err:.2e}")
            if not err < 3e-2:  # a misused API: a wrong number is worse than none
                result["liger_error"] = f"{result['liger']:.3f} ms but the output differs from the unfused layer: rel L2 {err:.2e}"
                result["liger"] = None
    except Exception as e:
        result["liger"] = None
        result["liger_error"] = first_line(e)
        note(f"liger failed ({what}): {result['liger_error']}")


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
            result[variant + "_error"] = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
    if world == 1:
        single_gpu_variants(cfg, x, wg, w1, w2, result)
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
