#!/usr/bin/env python3
"""Conformance data for flashmoe's Hugging Face loader, made by transformers itself.

For every family flashmoe loads (mixtral, qwen3_moe, olmoe, gpt_oss) and every expert layout
transformers saves, this script

1. builds the family's own config class with tiny shapes (H = 64, I = 128, E = 4, k = 2, two
   decoder layers) and a full ``AutoModelForCausalLM.from_config`` model in float32;
2. draws seeded random weights for the mixture-of-experts block of layer 1 (the router, and
   GPT-OSS's router bias, scaled so that top-k choices sit far from ties; experts at
   1/sqrt(fan-in), GPT-OSS's biases included);
3. saves the model with ``save_pretrained`` into ``OUT/<case>/checkpoint`` (small shards, so there
   is a ``model.safetensors.index.json``):
   - layout ``per_expert``: the default ``save_pretrained`` (transformers 5 reverts its fused
     in-memory experts to the original per-expert names; 4.x keeps per-expert modules anyway);
   - layout ``fused``: ``save_pretrained(..., save_original_format=False)`` (transformers 5 only:
     ``mlp.experts.gate_up_proj`` [E, 2I, H] and ``mlp.experts.down_proj`` [E, H, I]); skipped
     with a message where that argument does not exist;
   - layout ``interleaved`` (GPT-OSS, its only layout): the default ``save_pretrained``
     (``mlp.router.weight`` / ``.bias``, ``mlp.experts.gate_up_proj`` [E, H, 2I] with gate and up
     interleaved by column, ``gate_up_proj_bias``, ``down_proj`` [E, I, H], ``down_proj_bias``).
     Two cases: transformers' default clamp (``swiglu_limit`` 7, rarely reached by these inputs)
     and ``swiglu_limit`` 0.75, which most gate and up values hit; a transformers whose experts
     ignore the config's clamp (4.5x hard-codes 7.0) skips the second with a message;
4. runs that block (``model.model.layers[1].mlp``, or ``.block_sparse_moe`` for Mixtral in
   transformers 4.x) on a random float32 input on the CPU, reloads the checkpoint with
   ``from_pretrained`` and checks the reloaded block gives the same output;
5. writes ``OUT/<case>/io.safetensors``.

Handshake with ``tests/hf_layers.rs`` (run on the GPU machine after this script)::

    python3 benches/hf_conformance.py --out target/hf-conformance
    FLASHMOE_HF_CONFORMANCE=target/hf-conformance \\
        cargo test --release --test hf_layers -- --include-ignored --test-threads=1

Each ``OUT/<case>/io.safetensors`` holds

- ``x``: float32 [T, H], the block's input (token-major, batch 1);
- ``y``: float32 [T, H], the block's output (transformers' eager forward, float32);

and string metadata: ``family`` (the ``model_type``), ``layout`` (``per_expert`` or ``fused``),
``layer`` (the decoder layer of the block, ``1``), ``tokens`` (T), ``checkpoint`` (the folder
relative to the case folder: ``checkpoint``), ``dense_layers`` (comma-separated layers that have
no mixture-of-experts block, which flashmoe must refuse with a typed error; may be empty),
``renormalize`` (what the family does with the top-k weights; GPT-OSS's softmax over the top-k
logits is the renormalised softmax), ``transformers`` (its version),
``block`` (the block's class name) and ``keys`` (the saved tensor names of the block,
comma-separated, for diagnosis).

The Rust side loads ``HfLayer::open(OUT/<case>/checkpoint, layer)`` and checks (a) the f64
reference on the loaded weights against ``y`` (relative L2 below 1e-4: names, orientation,
routing and renormalisation) and (b) the GPU layer (float32 checkpoint, so tf32 tensor cores)
against ``y`` within flashmoe's f32 bound.

Without torch or transformers the script prints one line saying so and exits 0. It needs no GPU
(everything runs on the CPU in seconds); it was run with torch 2.15.0 and transformers 5.24.0
(10 cases) and 4.57.6 (5 per-expert cases), and the reference check passed on all of them at a
relative L2 error near 3.5e-7; then with transformers 5.24.0 again, GPT-OSS added (12 cases):
gpt_oss 3.4e-7, gpt_oss-clamp 2.8e-7 (its clamp reached by 23% of the gate values and 46% of
the up values; without the up clamp the reference is off by 0.42, so the case does test it).
"""

import argparse
import inspect
import json
import math
import os
import shutil
import sys

H, I, E, K, LAYERS, LAYER = 64, 128, 4, 2, 2, 1


def cases(transformers):
    """(case name, model_type, config class, config kwargs, dense layers, renormalize)."""
    common = dict(
        vocab_size=128,
        hidden_size=H,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_experts_per_tok=K,
        max_position_embeddings=128,
        hidden_act="silu",
        tie_word_embeddings=False,
    )
    out = []
    if hasattr(transformers, "MixtralConfig"):
        mixtral = dict(common, intermediate_size=I, num_local_experts=E)
        out.append(("mixtral", "mixtral", transformers.MixtralConfig, mixtral, [], True))
        out.append(("mixtral-gelu", "mixtral", transformers.MixtralConfig, dict(mixtral, hidden_act="gelu"), [], True))
    if hasattr(transformers, "Qwen3MoeConfig"):
        qwen = dict(
            common,
            intermediate_size=4 * I,
            moe_intermediate_size=I,
            num_experts=E,
            decoder_sparse_step=1,
            mlp_only_layers=[0],  # layer 0 dense: flashmoe must refuse it by name
        )
        out.append(("qwen3_moe", "qwen3_moe", transformers.Qwen3MoeConfig, dict(qwen, norm_topk_prob=False), [0], False))
        out.append(("qwen3_moe-norm", "qwen3_moe", transformers.Qwen3MoeConfig, dict(qwen, norm_topk_prob=True), [0], True))
    if hasattr(transformers, "OlmoeConfig"):
        olmoe = dict(common, intermediate_size=I, num_experts=E, norm_topk_prob=False)
        out.append(("olmoe", "olmoe", transformers.OlmoeConfig, olmoe, [], False))
    if hasattr(transformers, "GptOssConfig"):
        # hidden_act is not used by GPT-OSS's experts (its clamped SwiGLU is fixed).
        gpt_oss = dict(common, intermediate_size=I, num_local_experts=E, head_dim=16)
        out.append(("gpt_oss", "gpt_oss", transformers.GptOssConfig, gpt_oss, [], True))
        out.append(("gpt_oss-clamp", "gpt_oss", transformers.GptOssConfig, dict(gpt_oss, swiglu_limit=0.75), [], True))
    # Routers and shared experts the f64 reference defines but the kernel does not run yet (the
    # GPU test skips them: MoeLayer refuses them with ConfigError::NotInKernel).
    if hasattr(transformers, "Qwen2MoeConfig"):
        qwen2 = dict(
            common,
            intermediate_size=4 * I,
            moe_intermediate_size=I,
            shared_expert_intermediate_size=192,
            num_experts=E,
            decoder_sparse_step=1,
            mlp_only_layers=[0],
        )
        out.append(("qwen2_moe", "qwen2_moe", transformers.Qwen2MoeConfig, dict(qwen2, norm_topk_prob=False), [0], False))
    if hasattr(transformers, "DeepseekV3Config"):
        ds = dict(
            common,
            intermediate_size=4 * I,
            moe_intermediate_size=I,
            n_routed_experts=E,
            n_shared_experts=2,
            n_group=2,
            topk_group=1,  # one group of two kept: the group choice changes the routing
            routed_scaling_factor=2.5,
            first_k_dense_replace=1,
            kv_lora_rank=16,
            q_lora_rank=16,
            qk_rope_head_dim=8,
            qk_nope_head_dim=8,
            v_head_dim=8,
        )
        out.append(("deepseek_v3", "deepseek_v3", transformers.DeepseekV3Config, dict(ds, norm_topk_prob=True), [0], True))
        out.append(("deepseek_v3-nonorm", "deepseek_v3", transformers.DeepseekV3Config, dict(ds, norm_topk_prob=False), [0], False))
    if hasattr(transformers, "Llama4TextConfig"):
        l4 = dict(common, intermediate_size=I, intermediate_size_mlp=4 * I, num_local_experts=E, head_dim=16, interleave_moe_layer_step=2)
        out.append(("llama4_text", "llama4_text", transformers.Llama4TextConfig, l4, [0], False))
        out.append(("llama4_text-k1", "llama4_text", transformers.Llama4TextConfig, dict(l4, num_experts_per_tok=1), [0], False))
    return out


def layouts(model_type, can_fuse):
    """(layout name, extra save_pretrained arguments) of each checkpoint to write."""
    if model_type == "gpt_oss":
        return [("interleaved", {})]
    if model_type == "llama4_text":
        return [("chunked", {})]
    fused = [("fused", {"save_original_format": False})] if can_fuse else []
    return [("per_expert", {})] + fused


def clamp_ignored(config, block):
    """Why a GPT-OSS block does not use its config's clamp (transformers 4.5x hard-codes
    alpha = 1.702 and limit = 7.0 in GptOssExperts), or None."""
    experts = getattr(block, "experts", None)
    limit, alpha = getattr(experts, "limit", None), getattr(experts, "alpha", None)
    want_limit, want_alpha = getattr(config, "swiglu_limit", 7.0), getattr(config, "swiglu_alpha", 1.702)
    if limit is None or (limit, alpha) == (want_limit, want_alpha):
        return None
    return f"its experts use limit {limit}, alpha {alpha}; the config says {want_limit}, {want_alpha}"


def moe_block(model, layer):
    decoder = model.model.layers[layer]
    for name in ("block_sparse_moe", "feed_forward"):  # Mixtral in transformers 4.x; Llama-4
        block = getattr(decoder, name, None)
        if block is not None:
            return block
    return decoder.mlp


def run_block(torch, block, x):
    with torch.no_grad():
        y = block(x)
    if isinstance(y, tuple):  # (hidden_states, router_logits) in transformers 4.x
        y = y[0]
    return y.reshape(-1, x.shape[-1]).float()


def randomize(torch, block, seed, model_type):
    """Router (and router bias) N(0, 0.5): logits of std ~4 on unit inputs (top-k far from ties);
    the rest N(0, 1/fan-in) with fan-in the last dimension (nn.Linear [out, in], fused
    [E, out, in], biases), except GPT-OSS's expert stacks [E, in, out] used as x @ W."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(block.named_parameters()):
            router = name.split(".")[0] in ("gate", "router")
            stacked_xw = model_type in ("gpt_oss", "llama4_text") and p.dim() == 3
            fan_in = p.shape[1] if stacked_xw else p.shape[-1]
            std = 0.5 if router else 1.0 / math.sqrt(fan_in)
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32) * std)
        # DeepSeek-V3's score-correction bias is a buffer: about as large as the sigmoid scores,
        # so it changes the choice.
        for name, b in sorted(block.named_buffers()):
            if name.endswith("e_score_correction_bias"):
                b.copy_(torch.randn(b.shape, generator=gen, dtype=torch.float32) * 0.3)


def saved_keys(folder, layer):
    from safetensors import safe_open

    files = sorted(f for f in os.listdir(folder) if f.endswith(".safetensors"))
    keys = []
    for f in files:
        with safe_open(os.path.join(folder, f), framework="pt") as st:
            keys += [k for k in st.keys() if k.startswith(f"model.layers.{layer}.") and (".mlp." in k or ".block_sparse_moe." in k or ".feed_forward." in k)]
    return sorted(keys)


def eager_experts(model):
    """Transformers 5 may dispatch fused experts to grouped-GEMM kernels; ask for the eager loop
    where that choice exists (the results agree either way on the CPU in float32)."""
    setter = getattr(model, "set_experts_implementation", None)
    if callable(setter):
        try:
            setter("eager")
        except Exception as e:  # noqa: BLE001 - any failure just keeps the default
            print(f"  (kept the default experts implementation: {e})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="target/hf-conformance", help="output folder (replaced)")
    ap.add_argument("--tokens", type=int, default=64, help="tokens T per case")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()

    try:
        import torch
        import transformers
        from safetensors.torch import save_file
    except ImportError as e:
        print(f"hf_conformance: skipped: {e.name or e} is not installed (needs torch, transformers, safetensors)")
        return 0

    from transformers import AutoModelForCausalLM

    torch.manual_seed(args.seed)
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    can_fuse = "save_original_format" in inspect.signature(transformers.PreTrainedModel.save_pretrained).parameters
    if not can_fuse:
        print(f"transformers {transformers.__version__}: save_pretrained has no save_original_format; fused layout skipped")

    written = 0
    for n, (name, model_type, config_class, kwargs, dense, renormalize) in enumerate(cases(transformers)):
        config = config_class(**kwargs)
        assert config.model_type == model_type, (config.model_type, model_type)
        model = AutoModelForCausalLM.from_config(config).float().eval()
        eager_experts(model)
        block = moe_block(model, LAYER)
        why = clamp_ignored(config, block) if model_type == "gpt_oss" else None
        if why is not None:
            print(f"{name}: skipped: transformers {transformers.__version__}: {why}")
            continue
        randomize(torch, block, args.seed + n, model_type)
        x = torch.randn(1, args.tokens, H, generator=torch.Generator().manual_seed(args.seed + 100 + n), dtype=torch.float32)
        y = run_block(torch, block, x)
        for layout, extra in layouts(model_type, can_fuse):
            case = os.path.join(args.out, f"{name}-{layout}")
            ckpt = os.path.join(case, "checkpoint")
            model.save_pretrained(ckpt, max_shard_size="100KB", safe_serialization=True, **extra)
            with open(os.path.join(ckpt, "config.json")) as f:
                saved = json.load(f)
            # The checkpoint holds what the block ran: reload it and run the block again.
            again = AutoModelForCausalLM.from_pretrained(ckpt).float().eval()
            eager_experts(again)
            y2 = run_block(torch, moe_block(again, LAYER), x)
            if not torch.allclose(y, y2, rtol=1e-5, atol=1e-6):
                print(f"{name}-{layout}: the reloaded checkpoint gives a different output (max diff {(y - y2).abs().max():.3e})")
                return 1
            keys = saved_keys(ckpt, LAYER)
            meta = {
                "family": model_type,
                "layout": layout,
                "layer": str(LAYER),
                "tokens": str(args.tokens),
                "checkpoint": "checkpoint",
                "dense_layers": ",".join(str(d) for d in dense),
                "renormalize": str(renormalize).lower(),
                "transformers": transformers.__version__,
                "block": type(block).__name__,
                "keys": ",".join(keys),
            }
            save_file({"x": x.reshape(args.tokens, H).contiguous(), "y": y.contiguous()}, os.path.join(case, "io.safetensors"), metadata=meta)
            sharded = os.path.isfile(os.path.join(ckpt, "model.safetensors.index.json"))
            print(
                f"{name}-{layout}: {type(block).__name__}, dtype {saved.get('dtype', saved.get('torch_dtype'))}, "
                f"{'sharded' if sharded else 'single file'}, {len(keys)} block tensors (e.g. {keys[:3]})"
            )
            written += 1
    print(f"{written} cases in {args.out}; next: FLASHMOE_HF_CONFORMANCE={args.out} cargo test --release --test hf_layers -- --include-ignored --test-threads=1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
