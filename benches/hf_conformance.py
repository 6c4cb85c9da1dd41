#!/usr/bin/env python3
"""Conformance data for flashmoe's Hugging Face loader, made by transformers itself.

For every family flashmoe loads (mixtral, qwen3_moe, olmoe) and every expert layout transformers
saves, this script

1. builds the family's own config class with tiny shapes (H = 64, I = 128, E = 4, k = 2, two
   decoder layers) and a full ``AutoModelForCausalLM.from_config`` model in float32;
2. draws seeded random weights for the mixture-of-experts block of layer 1 (the router scaled so
   that top-k choices sit far from ties; experts at 1/sqrt(fan-in));
3. saves the model with ``save_pretrained`` into ``OUT/<case>/checkpoint`` (small shards, so there
   is a ``model.safetensors.index.json``):
   - layout ``per_expert``: the default ``save_pretrained`` (transformers 5 reverts its fused
     in-memory experts to the original per-expert names; 4.x keeps per-expert modules anyway);
   - layout ``fused``: ``save_pretrained(..., save_original_format=False)`` (transformers 5 only:
     ``mlp.experts.gate_up_proj`` [E, 2I, H] and ``mlp.experts.down_proj`` [E, H, I]); skipped
     with a message where that argument does not exist;
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
``renormalize`` (what the family does with the top-k weights), ``transformers`` (its version),
``block`` (the block's class name) and ``keys`` (the saved tensor names of the block,
comma-separated, for diagnosis).

The Rust side loads ``HfLayer::open(OUT/<case>/checkpoint, layer)`` and checks (a) the f64
reference on the loaded weights against ``y`` (relative L2 below 1e-4: names, orientation,
routing and renormalisation) and (b) the GPU layer (float32 checkpoint, so tf32 tensor cores)
against ``y`` within flashmoe's f32 bound.

Without torch or transformers the script prints one line saying so and exits 0. It needs no GPU
(everything runs on the CPU in seconds); it was run with torch 2.15.0 and transformers 5.24.0
(10 cases) and 4.57.6 (5 per-expert cases), and the reference check passed on all of them at a
relative L2 error near 3.5e-7.
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
    return out


def moe_block(model, layer):
    decoder = model.model.layers[layer]
    block = getattr(decoder, "block_sparse_moe", None)  # Mixtral in transformers 4.x
    return block if block is not None else decoder.mlp


def run_block(torch, block, x):
    with torch.no_grad():
        y = block(x)
    if isinstance(y, tuple):  # (hidden_states, router_logits) in transformers 4.x
        y = y[0]
    return y.reshape(-1, x.shape[-1]).float()


def randomize(torch, block, seed):
    """Router N(0, 0.5): logits of std ~4 on unit inputs (top-k far from ties); the rest
    N(0, 1/fan-in) with fan-in the last dimension (nn.Linear [out, in], fused [E, out, in])."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(block.named_parameters()):
            router = name.split(".")[0] in ("gate", "router")
            std = 0.5 if router else 1.0 / math.sqrt(p.shape[-1])
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32) * std)


def saved_keys(folder, layer):
    from safetensors import safe_open

    files = sorted(f for f in os.listdir(folder) if f.endswith(".safetensors"))
    keys = []
    for f in files:
        with safe_open(os.path.join(folder, f), framework="pt") as st:
            keys += [k for k in st.keys() if k.startswith(f"model.layers.{layer}.") and (".mlp." in k or ".block_sparse_moe." in k)]
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
        randomize(torch, block, args.seed + n)
        x = torch.randn(1, args.tokens, H, generator=torch.Generator().manual_seed(args.seed + 100 + n), dtype=torch.float32)
        y = run_block(torch, block, x)
        for layout in ["per_expert", "fused"] if can_fuse else ["per_expert"]:
            case = os.path.join(args.out, f"{name}-{layout}")
            ckpt = os.path.join(case, "checkpoint")
            extra = {} if layout == "per_expert" else {"save_original_format": False}
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
