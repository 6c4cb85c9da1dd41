//! The shared expert in the fused kernel on one GPU against the f64 reference (which adds it to
//! every token, dropped or not): weight 1 and Qwen2-MoE's sigmoid gate; Is = I, 2·I and a
//! multiple of 64 that is not one of 128; T = 1, 130, 1000, 4096; k = 1, 2, 8; E = 8, 64 and
//! DeepSeek-V3's 256 with the grouped sigmoid router; Llama-4's router (the shared expert sees
//! x unscaled); gated and plain layers, every activation; every dtype; capacity drops; a
//! forward of fewer tokens than the layer's maximum. Every case runs twice (bitwise repeat).

mod common;

use common::{Inputs, check};
use flashmoe::numeric::NAN_BYTE;
use flashmoe::{Activation, Cluster, DType, MoeConfig, Router, SharedExpert, verify};

fn gpu() -> Cluster {
    Cluster::first(1).expect("a GPU")
}

/// A layer with a shared expert of width `shared_inter` (`gate`: Qwen2-MoE's sigmoid gate).
fn cfg(dtype: DType, experts: usize, top_k: usize, tokens: usize, dims: (usize, usize), shared_inter: usize, gate: bool) -> MoeConfig {
    MoeConfig {
        tokens,
        hidden: dims.0,
        inter: dims.1,
        experts,
        top_k,
        dtype,
        shared: Some(SharedExpert { inter: shared_inter, sigmoid_gate: gate }),
        ..MoeConfig::default()
    }
}

/// Is = I, 2·I and 192 (a multiple of 64, not of 128: a partial last GEMM1 K tile is never
/// needed, GEMM0 tiles are 64 wide), each with and without the gate, every dtype.
#[test]
#[ignore = "needs GPU"]
fn shared_widths_gates_and_dtypes() {
    let c = gpu();
    let mut seed = 500;
    for dtype in [DType::Bf16, DType::F16, DType::F32] {
        for shared_inter in [256, 512, 192] {
            for gate in [false, true] {
                check(&c, &cfg(dtype, 8, 2, 130, (256, 256), shared_inter, gate), seed, Inputs::Random);
                seed += 1;
            }
        }
    }
}

/// T = 1, 130, 1000, 4096 (one partial shared tile, a full and a partial one, ..., 32 full ones)
/// with k = 1, 2, 8 over 64 experts.
#[test]
#[ignore = "needs GPU"]
fn shared_token_counts_and_top_k() {
    let c = gpu();
    let mut seed = 520;
    for tokens in [1, 130, 1000, 4096] {
        for top_k in [1, 2, 8] {
            let gate = seed % 2 == 0;
            check(&c, &cfg(DType::Bf16, 64, top_k, tokens, (256, 128), 320, gate), seed, Inputs::Random);
            seed += 1;
        }
    }
    // The default layer's hidden size with a DeepSeek-sized shared expert.
    check(&c, &cfg(DType::Bf16, 64, 2, 4096, (2048, 1408), 2816, false), seed, Inputs::Random);
}

/// Gated and plain layers, every activation (the shared expert is always gated: act(x·S1ᵀ) ·
/// up(x·S3ᵀ) with the layer's activation) and expert biases (the shared expert has none).
#[test]
#[ignore = "needs GPU"]
fn shared_with_gated_plain_biased_and_every_activation() {
    let c = gpu();
    let base = cfg(DType::Bf16, 8, 2, 130, (256, 320), 192, false);
    for (i, (activation, gated, bias)) in [
        (Activation::Silu, true, false),
        (Activation::Silu, true, true),
        (Activation::Gelu, false, true),
        (Activation::Gelu, true, false),
        (Activation::Relu, false, false),
        (Activation::Relu, false, true),
        (Activation::ClampedSwiglu { alpha: 1.702, limit: 0.5 }, true, true),
    ]
    .into_iter()
    .enumerate()
    {
        let gate = i % 2 == 1;
        let layer = MoeConfig { activation, gated, bias, shared: Some(SharedExpert { inter: 192, sigmoid_gate: gate }), ..base.clone() };
        check(&c, &layer, 540 + i as u64, Inputs::Random);
    }
    // GPT-OSS's router bias next to a shared expert, f32.
    let oss = MoeConfig {
        activation: Activation::GPT_OSS,
        gated: true,
        bias: true,
        router_bias: true,
        capacity_factor: None,
        ..cfg(DType::F32, 8, 4, 257, (256, 192), 256, true)
    };
    check(&c, &oss, 550, Inputs::Random);
}

/// DeepSeek-V3 (grouped sigmoid router, E = 256, k = 8, shared experts of 2·I, nothing
/// dropped) and Llama-4 (top-1 by logit, the routed input scaled by sigmoid, the shared expert
/// on the unscaled input), every dtype.
#[test]
#[ignore = "needs GPU"]
fn shared_with_deepseek_v3_and_llama4_routers() {
    let c = gpu();
    let mut seed = 560;
    for dtype in [DType::Bf16, DType::F16, DType::F32] {
        for tokens in [1, 1000] {
            let ds = MoeConfig {
                router: Router::GroupedSigmoid { groups: 8, topk_groups: 4, scaling: 2.5 },
                gated: true,
                activation: Activation::Silu,
                capacity_factor: None,
                ..cfg(dtype, 256, 8, tokens, (256, 128), 256, false)
            };
            assert_eq!(check(&c, &ds, seed, Inputs::Random).dropped, 0);
            let llama4 = MoeConfig {
                router: Router::SigmoidScaledInput,
                renormalize: false,
                gated: true,
                activation: Activation::Silu,
                capacity_factor: None,
                ..cfg(dtype, 16, 1, tokens, (256, 256), 256, false)
            };
            check(&c, &llama4, seed + 1, Inputs::Random);
            seed += 2;
        }
    }
    // DeepSeek-V3's grouped router with the default capacity factor (drops).
    let ds_drops = MoeConfig {
        router: Router::GroupedSigmoid { groups: 8, topk_groups: 4, scaling: 2.5 },
        gated: true,
        activation: Activation::Silu,
        ..cfg(DType::Bf16, 256, 8, 1000, (256, 128), 192, true)
    };
    check(&c, &ds_drops, seed, Inputs::Random);
}

/// Dropped tokens still get the shared expert: every token to one expert with capacity factor
/// 1 (most pairs dropped; with k = 1 those tokens get the shared expert alone), and a tight
/// random capacity.
#[test]
#[ignore = "needs GPU"]
fn dropped_tokens_still_get_the_shared_expert() {
    let c = gpu();
    let skew = MoeConfig { capacity_factor: Some(1.0), ..cfg(DType::Bf16, 16, 1, 1000, (256, 256), 192, false) };
    let v = check(&c, &skew, 580, Inputs::AllTo(5));
    assert!(v.dropped >= 1000 - 63, "expected drops, got {}", v.dropped);
    let gated = MoeConfig { capacity_factor: Some(1.0), ..cfg(DType::F16, 16, 2, 1000, (256, 256), 256, true) };
    assert!(check(&c, &gated, 581, Inputs::AllTo(3)).dropped > 0);
    let tight = MoeConfig { capacity_factor: Some(0.5), ..cfg(DType::F32, 8, 2, 777, (128, 256), 128, true) };
    assert!(check(&c, &tight, 582, Inputs::Random).dropped > 0);
}

/// Forwards of fewer tokens than the layer's maximum (the shared tiles follow the forward's T,
/// the regions the maximum's), each checked against the reference and repeated bitwise.
#[test]
#[ignore = "needs GPU"]
fn shared_with_fewer_tokens_than_the_maximum() {
    let c = gpu();
    let config = cfg(DType::Bf16, 64, 2, 1000, (256, 256), 320, true);
    let (w, x) = common::weights_and_inputs(&config, 1, 590, Inputs::Random);
    let mut layer = common::layer(&c, &config).unwrap();
    layer.load_weights(&w).unwrap();
    let io_bytes = config.tokens * config.hidden * config.dtype.bytes() as usize;
    for tokens in [1, 127, 128, 129, 1000] {
        let x = &x[..tokens * config.hidden];
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let mut run = || {
            layer.output_buffer(0).unwrap().fill(0, io_bytes, NAN_BYTE).unwrap();
            layer.forward(&[&xf]).unwrap()
        };
        let out = run();
        let again = run();
        let v = verify::check(&layer, &w, x, &out, tokens, None, 591).unwrap();
        println!("T={tokens} of {}: rel_err {:.3e} over {} tokens", config.tokens, v.rel_err, v.tokens_checked);
        assert!(v.passed(config.dtype), "T={tokens}: {v:?}");
        assert!(out[0].iter().zip(&again[0]).all(|(a, b)| a.to_bits() == b.to_bits()), "T={tokens}: two runs differ");
        assert_eq!(out[0].len(), tokens * config.hidden);
    }
}
