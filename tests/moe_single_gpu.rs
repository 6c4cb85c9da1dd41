//! The fused kernel on one GPU against the f64 reference: dtypes, k, E, odd T, gated and plain,
//! biases, GPT-OSS's router bias and clamped SwiGLU, DeepSeek-V3's grouped sigmoid router,
//! Llama-4's sigmoid-scaled input, skewed routing, capacity drops, NaN-poisoned outputs, bitwise
//! repeat, forced timeout.

mod common;

use std::time::Duration;

use common::{Inputs, check, check_tuned};
use flashmoe::{Activation, Cluster, DType, Error, MoeConfig, Router, Tuning, Wait, Weights};

fn gpu() -> Cluster {
    Cluster::first(1).expect("a GPU")
}

fn cfg(dtype: DType, experts: usize, top_k: usize, tokens: usize, dims: (usize, usize)) -> MoeConfig {
    MoeConfig { tokens, hidden: dims.0, inter: dims.1, experts, top_k, dtype, ..MoeConfig::default() }
}

#[test]
#[ignore = "needs GPU"]
fn tiny_bf16() {
    check(&gpu(), &cfg(DType::Bf16, 4, 2, 7, (64, 64)), 1, Inputs::Random);
}

#[test]
#[ignore = "needs GPU"]
fn dtypes_and_top_k() {
    let c = gpu();
    for (i, dtype) in [DType::Bf16, DType::F16, DType::F32].into_iter().enumerate() {
        for k in [1, 2, 4] {
            check(&c, &cfg(dtype, 8, k, 130, (256, 512)), 10 + i as u64 * 3 + k as u64, Inputs::Random);
        }
    }
}

#[test]
#[ignore = "needs GPU"]
fn expert_counts_and_odd_token_counts() {
    let c = gpu();
    check(&c, &cfg(DType::Bf16, 1, 1, 130, (128, 192)), 20, Inputs::Random);
    check(&c, &cfg(DType::Bf16, 64, 2, 1, (256, 256)), 21, Inputs::Random);
    check(&c, &cfg(DType::Bf16, 64, 2, 7, (256, 256)), 22, Inputs::Random);
    check(&c, &cfg(DType::Bf16, 256, 4, 130, (128, 128)), 23, Inputs::Random);
    check(&c, &cfg(DType::F16, 256, 1, 4096, (256, 256)), 24, Inputs::Random);
    check(&c, &cfg(DType::Bf16, 64, 2, 4096, (2048, 2048)), 25, Inputs::Random);
}

#[test]
#[ignore = "needs GPU"]
fn gated_biased_and_activations() {
    let c = gpu();
    let base = cfg(DType::Bf16, 8, 2, 130, (256, 320));
    for (i, (act, gated, bias)) in [
        (Activation::Silu, true, false),
        (Activation::Silu, true, true),
        (Activation::Gelu, false, true),
        (Activation::Gelu, true, false),
        (Activation::Relu, false, true),
    ]
    .into_iter()
    .enumerate()
    {
        check(&c, &MoeConfig { activation: act, gated, bias, ..base.clone() }, 30 + i as u64, Inputs::Random);
    }
    let f32_swiglu = MoeConfig { activation: Activation::Silu, gated: true, bias: true, ..cfg(DType::F32, 64, 2, 4096, (512, 1024)) };
    check(&c, &f32_swiglu, 36, Inputs::Random);
    let no_renorm = MoeConfig { renormalize: false, ..cfg(DType::F16, 16, 4, 300, (192, 256)) };
    check(&c, &no_renorm, 37, Inputs::Random);
}

/// GPT-OSS's router bias (added to the logits before top-k) and clamped SwiGLU with expert
/// biases: k = 1..4, one token and 130, GPT-OSS's clamp (7) and one most values hit (0.5, both
/// sides of the up projection), every dtype, and with capacity drops.
#[test]
#[ignore = "needs GPU"]
fn gpt_oss_router_bias_and_clamped_swiglu() {
    let c = gpu();
    let oss = |dtype: DType, top_k: usize, tokens: usize, limit: f32| MoeConfig {
        activation: Activation::ClampedSwiglu { alpha: 1.702, limit },
        gated: true,
        bias: true,
        router_bias: true,
        capacity_factor: None,
        ..cfg(dtype, 8, top_k, tokens, (256, 320))
    };
    let mut seed = 70;
    for top_k in 1..=4 {
        for tokens in [1, 130] {
            for limit in [7.0, 0.5] {
                check(&c, &oss(DType::Bf16, top_k, tokens, limit), seed, Inputs::Random);
                seed += 1;
            }
        }
    }
    check(&c, &oss(DType::F16, 4, 300, 0.5), seed, Inputs::Random);
    check(&c, &oss(DType::F32, 2, 257, 0.5), seed + 1, Inputs::Random);
    // The router bias alone (plain SiLU experts), and GPT-OSS's layer with a capacity limit.
    let bias_only = MoeConfig { router_bias: true, activation: Activation::Silu, gated: true, ..cfg(DType::Bf16, 16, 2, 130, (128, 128)) };
    check(&c, &bias_only, seed + 2, Inputs::Random);
    let tight = MoeConfig { capacity_factor: Some(0.5), ..oss(DType::Bf16, 2, 777, 0.5) };
    assert!(check(&c, &tight, seed + 3, Inputs::Random).dropped > 0);
}

/// DeepSeek-V3's grouped sigmoid router (`noaux_tc`: score-correction bias, group-limited
/// top-k, routed scaling factor): E = 16, 64, 256; 4 and 8 groups, 2 and 4 kept (and every group
/// kept: nothing masked); k up to 8; T = 1, 130, 1000; renormalised or not; every dtype; the
/// default capacity factor 1 (drops) and none.
#[test]
#[ignore = "needs GPU"]
fn grouped_sigmoid_router() {
    let c = gpu();
    let grouped =
        |(dtype, experts, groups, topk_groups, top_k): (DType, usize, usize, usize, usize), tokens, renormalize, scaling| MoeConfig {
            router: Router::GroupedSigmoid { groups, topk_groups, scaling },
            renormalize,
            gated: true,
            activation: Activation::Silu,
            ..cfg(dtype, experts, top_k, tokens, (256, 256))
        };
    let mut seed = 300;
    for (shape, tokens, renormalize, scaling) in [
        ((DType::Bf16, 16, 4, 2, 2), 130, true, 2.5),
        ((DType::F16, 16, 8, 4, 8), 1, false, 1.5),
        ((DType::F32, 16, 8, 2, 4), 1000, true, 2.5),
        ((DType::Bf16, 64, 8, 4, 8), 1000, true, 2.5),
        ((DType::F32, 64, 4, 2, 4), 130, false, 0.5),
        ((DType::F16, 64, 4, 4, 6), 1, true, 2.5),
        ((DType::Bf16, 256, 8, 4, 8), 1000, true, 2.5),
        ((DType::F16, 256, 8, 2, 8), 130, false, 2.5),
        ((DType::F32, 256, 4, 2, 3), 1, true, 1.5),
        ((DType::Bf16, 256, 4, 4, 8), 130, false, 1.5),
        // More tokens than the grid has warps: lane groups narrower than a warp route them
        // (`layout::route_lanes`: 2 and 8 lanes here).
        ((DType::F16, 16, 4, 2, 2), 3000, true, 2.5),
        ((DType::Bf16, 64, 8, 4, 8), 3000, false, 1.5),
    ] {
        check(&c, &grouped(shape, tokens, renormalize, scaling), seed, Inputs::Random);
        seed += 1;
    }
    // DeepSeek-V3's shape without a capacity limit (Hugging Face drops nothing), and expert biases.
    let ds = MoeConfig { capacity_factor: None, bias: true, ..grouped((DType::Bf16, 256, 8, 4, 8), 1000, true, 2.5) };
    assert_eq!(check(&c, &ds, seed, Inputs::Random).dropped, 0);
}

/// GEMM1 split along K (`Tuning::gemm1_splits`; the heuristic splits at decode on wide-I
/// layers): split counts 2 to 16 (uneven too), gated and plain, with and without biases, every dtype, T = 1, 5
/// and 130. The last split of a column tile sums the partials in split order: bitwise repeatable.
#[test]
#[ignore = "needs GPU"]
fn gemm1_k_splits() {
    let c = gpu();
    for (i, (dtype, gated, bias, tokens, splits)) in [
        (DType::Bf16, true, true, 1, 4),
        (DType::Bf16, false, false, 130, 2),
        (DType::F16, true, false, 5, 3),
        (DType::F32, false, true, 1, 8),
        (DType::Bf16, true, true, 130, 5),
        // Decode's finer splits into partials of a few rows: 16 of two K tiles, 11 uneven ones.
        (DType::Bf16, true, true, 1, 16),
        (DType::F16, false, false, 3, 11),
        (DType::Bf16, false, true, 4, 12),
    ]
    .into_iter()
    .enumerate()
    {
        let cfg = MoeConfig { gated, bias, activation: Activation::Silu, capacity_factor: None, ..cfg(dtype, 8, 2, tokens, (256, 2048)) };
        let tuning = Tuning { gemm1_splits: Some(splits), ..common::tuning_for(&cfg) };
        let layer = flashmoe::MoeLayer::builder(&c, cfg.clone()).tuning(tuning.clone()).build().unwrap();
        // The warp-specialized engine (FLASHMOE_TEST_MAINLOOP=ws) runs whole tasks: its grid of
        // 132 blocks holds fewer partial slots, and the split count is ignored anyway.
        if tuning.mainloop != flashmoe::Mainloop::WarpSpecialized {
            assert_eq!(layer.plan().forward(0, tokens).unwrap().gemm1_splits, splits, "{cfg:?}");
        }
        drop(layer);
        let v = check_tuned(&c, &cfg, &tuning, 400 + i as u64, Inputs::Random);
        assert_eq!(v.dropped, 0);
    }
}

/// GEMM0 split along K (`Tuning::gemm0_splits`; the heuristic splits at decode when the GEMM0
/// tasks do not fill the grid): the last split sums the partials in split order and runs the
/// activation on the sum. f64 check and bitwise repeats (`check_tuned`), on the static and the OS
/// plan, with GEMM1 splits waiting on the split tasks' counts; every dtype, gated and plain,
/// biases, uneven splits of K (H = 2048 in 2 to 8), I not a multiple of the tile (320).
#[test]
#[ignore = "needs GPU"]
fn gemm0_k_splits() {
    let c = gpu();
    for (i, (dtype, gated, bias, tokens, splits0, splits1)) in [
        (DType::Bf16, false, false, 1, 8, None),
        (DType::Bf16, true, true, 1, 4, Some(4)),
        (DType::F16, false, true, 130, 2, Some(2)),
        (DType::F32, true, false, 5, 8, None),
        (DType::Bf16, false, false, 3, 2, Some(16)),
        (DType::F16, true, true, 4, 8, Some(1)),
    ]
    .into_iter()
    .enumerate()
    {
        let cfg = MoeConfig { gated, bias, activation: Activation::Silu, capacity_factor: None, ..cfg(dtype, 8, 2, tokens, (2048, 320)) };
        let tuning = Tuning { gemm0_splits: Some(splits0), gemm1_splits: splits1, ..common::tuning_for(&cfg) };
        let layer = flashmoe::MoeLayer::builder(&c, cfg.clone()).tuning(tuning.clone()).build().unwrap();
        // The warp-specialized engine (FLASHMOE_TEST_MAINLOOP=ws) runs whole tasks.
        if tuning.mainloop != flashmoe::Mainloop::WarpSpecialized {
            assert_eq!(layer.plan().forward(0, tokens).unwrap().gemm0_splits, splits0, "{cfg:?}");
        }
        drop(layer);
        let v = check_tuned(&c, &cfg, &tuning, 950 + i as u64, Inputs::Random);
        assert_eq!(v.dropped, 0);
    }
}

/// The gate's warp dot products (128-thread engines, T <= 4: `gate::logits_any_t`) against the
/// f64 reference, with bitwise repeats: K splits forced from one (a lane sums 8 vectors) to one
/// per K tile (a quarter of the warp loads), uneven ones, E not a multiple of 4 (padded logit
/// rows) and above 128, every dtype; T = 5 takes the tensor-core tiles.
#[test]
#[ignore = "needs GPU"]
fn gate_dot_products_at_decode() {
    let c = gpu();
    for (i, (dtype, experts, k, tokens, hidden, gate_splits)) in [
        (DType::Bf16, 8, 2, 1, 2048, Some(1)),
        (DType::F16, 6, 2, 4, 320, Some(5)),
        (DType::Bf16, 6, 1, 3, 448, Some(3)),
        (DType::F32, 64, 4, 2, 1024, None),
        (DType::Bf16, 160, 8, 4, 1024, Some(16)),
        (DType::Bf16, 8, 2, 5, 256, None),
    ]
    .into_iter()
    .enumerate()
    {
        let cfg = MoeConfig { capacity_factor: None, ..cfg(dtype, experts, k, tokens, (hidden, 256)) };
        // The split gate of the persistent engines (the lean kernel's blocks sum one split).
        let tuning = Tuning { gate_splits, lean: Some(false), ..common::tuning_for(&cfg) };
        if let Some(splits) = gate_splits {
            let layer = flashmoe::MoeLayer::builder(&c, cfg.clone()).tuning(tuning.clone()).build().unwrap();
            assert_eq!(layer.plan().forward(0, tokens).unwrap().gate_splits, splits, "{cfg:?}");
        }
        let v = check_tuned(&c, &cfg, &tuning, 1000 + i as u64, Inputs::Random);
        assert_eq!(v.dropped, 0);
    }
}

/// The static decode plan (one GPU, at most 4 tokens: every block routes them, a warp per token,
/// and takes tasks by index) against the OS plan on the same weights and
/// inputs: both pass the f64 check, and they agree bit for bit (the same row tiles, slots,
/// K-split and combine orders). Every dtype, k = 1..8, E = 4 to 64, gated and biased, GEMM1 K
/// splits, drops; softmax and DeepSeek-V3's grouped sigmoid, whose static routing keeps one logit
/// slot a lane at E <= 32 and two at E = 64 (`gate::route_all`). Llama-4's router scales copied
/// rows, which the static plan does not read (`heuristics::static_plan`): its case checks that it
/// stays on the OS plan either way.
#[test]
#[ignore = "needs GPU"]
fn static_decode_plan_matches_the_os_plan_bitwise() {
    use flashmoe::numeric::NAN_BYTE;
    let c = gpu();
    let soft = Router::Softmax;
    let grouped = |groups, topk_groups, scaling| Router::GroupedSigmoid { groups, topk_groups, scaling };
    for (i, (dtype, experts, k, tokens, gated, bias, capacity_factor, router)) in [
        (DType::Bf16, 8, 2, 1, true, false, None, soft),
        (DType::Bf16, 8, 1, 4, false, true, Some(1.0), soft),
        (DType::F16, 64, 4, 3, true, true, None, soft),
        (DType::F32, 8, 2, 2, false, false, Some(1.0), soft),
        (DType::Bf16, 4, 3, 4, false, false, Some(0.5), soft),
        (DType::Bf16, 64, 2, 1, false, true, None, soft),
        // Drops with k = 4, and an expert count between the two.
        (DType::Bf16, 8, 4, 4, true, false, Some(1.0), soft),
        (DType::F16, 16, 3, 3, false, true, None, soft),
        // The grouped sigmoid at one slot (E = 16) and two (E = 64), groups masked or all kept,
        // k up to 8, drops.
        (DType::Bf16, 16, 2, 1, true, false, None, grouped(4, 2, 2.5)),
        (DType::F16, 16, 4, 4, false, true, Some(1.0), grouped(8, 8, 1.5)),
        (DType::Bf16, 64, 8, 2, true, true, None, grouped(8, 4, 2.5)),
        (DType::F32, 64, 6, 4, false, false, Some(1.0), grouped(4, 2, 0.5)),
        (DType::Bf16, 16, 2, 2, true, false, None, Router::SigmoidScaledInput),
    ]
    .into_iter()
    .enumerate()
    {
        let cfg = MoeConfig {
            gated,
            bias,
            activation: Activation::Silu,
            capacity_factor,
            router,
            renormalize: router != Router::SigmoidScaledInput,
            ..cfg(dtype, experts, k, tokens, (256, if i % 2 == 0 { 2048 } else { 320 }))
        };
        let (w, x) = common::weights_and_inputs(&cfg, 1, 700 + i as u64, Inputs::Random);
        let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let mut outs = Vec::new();
        for static_plan in [None, Some(false)] {
            // The lean kernel would take these forwards before either plan.
            let tuning = Tuning { static_plan, lean: Some(false), ..common::tuning_for(&cfg) };
            let copies_local = tuning.copy_local == Some(true);
            let mut layer = flashmoe::MoeLayer::builder(&c, cfg.clone()).tuning(tuning).build().unwrap();
            let expect_static = static_plan.is_none()
                && layer.kernel_for(0, tokens).unwrap().0.mainloop != Some(flashmoe::entries::MainloopKind::WarpSpecialized)
                && router != Router::SigmoidScaledInput
                && !copies_local;
            assert_eq!(layer.static_plan(0, tokens).unwrap(), expect_static, "{cfg:?}");
            layer.load_weights(&w).unwrap();
            layer.output_buffer(0).unwrap().fill(0, tokens * cfg.hidden * dtype.bytes() as usize, NAN_BYTE).unwrap();
            let out = layer.forward(&[&xs]).unwrap_or_else(|e| panic!("{cfg:?} static {static_plan:?}: {e}"));
            let v = flashmoe::verify::check(&layer, &w, &x, &out, tokens, None, 77).unwrap();
            println!(
                "{dtype:?} E={experts} k={k} T={tokens} gated={gated} bias={bias} cf={capacity_factor:?} {router:?} static plan {expect_static}: {v:?}"
            );
            assert!(v.passed(dtype), "{cfg:?} static {expect_static}: {v:?}");
            outs.push(out.into_iter().next().unwrap());
        }
        let bitwise = outs[0].iter().zip(&outs[1]).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(bitwise, "{cfg:?}: the static plan's output differs from the OS plan's");
    }
}

/// Llama-4's router: top-k by logit, the chosen expert's input scaled by sigmoid(logit), its
/// output added with weight 1: k = 1 and 2, gated and plain, with and without expert biases (b1
/// is added after the scale), every dtype, T = 1, 130, 1000, with capacity drops.
#[test]
#[ignore = "needs GPU"]
fn sigmoid_scaled_input_router() {
    let c = gpu();
    let llama4 = |dtype, top_k, tokens, act, gated, bias| MoeConfig {
        router: Router::SigmoidScaledInput,
        renormalize: false,
        activation: act,
        gated,
        bias,
        capacity_factor: None,
        ..cfg(dtype, 16, top_k, tokens, (256, 320))
    };
    let mut seed = 320;
    for (dtype, top_k, tokens, act, gated, bias) in [
        (DType::Bf16, 1, 130, Activation::Silu, true, false),
        (DType::Bf16, 1, 1, Activation::Silu, true, true),
        (DType::Bf16, 2, 1000, Activation::Silu, true, false),
        (DType::F16, 1, 1000, Activation::Relu, false, true),
        (DType::F16, 2, 130, Activation::Gelu, false, false),
        (DType::F32, 1, 130, Activation::Silu, true, true),
        (DType::F32, 2, 1, Activation::Relu, false, false),
        // Two lanes per token (more tokens than the grid has warps).
        (DType::Bf16, 1, 3000, Activation::Silu, true, false),
    ] {
        check(&c, &llama4(dtype, top_k, tokens, act, gated, bias), seed, Inputs::Random);
        seed += 1;
    }
    let tight = MoeConfig { capacity_factor: Some(0.5), ..llama4(DType::Bf16, 2, 777, Activation::Silu, true, true) };
    assert!(check(&c, &tight, seed, Inputs::Random).dropped > 0);
    // Every token to one expert: its rows are all this GPU's own, copied scaled.
    check(&c, &llama4(DType::Bf16, 1, 1000, Activation::Silu, true, false), seed + 1, Inputs::AllTo(5));
}

#[test]
#[ignore = "needs GPU"]
fn skewed_routing_and_capacity_drops() {
    let c = gpu();
    // Everything to expert 5 with no capacity limit: one expert gets every token.
    let skew = MoeConfig { capacity_factor: None, ..cfg(DType::Bf16, 16, 2, 1000, (256, 256)) };
    let r = check(&c, &skew, 40, Inputs::AllTo(5));
    assert_eq!(r.dropped, 0);
    // The same with capacity factor 1: expert 5 keeps ceil(1000·2/16) = 125 tokens, drops the rest.
    let drop = MoeConfig { capacity_factor: Some(1.0), ..skew.clone() };
    let r = check(&c, &drop, 41, Inputs::AllTo(5));
    assert!(r.dropped >= 1000 - 125, "expected drops, got {}", r.dropped);
    // Random routing with a tight capacity.
    let tight = MoeConfig { capacity_factor: Some(0.5), ..cfg(DType::F32, 8, 2, 777, (128, 256)) };
    let r = check(&c, &tight, 42, Inputs::Random);
    assert!(r.dropped > 0);
}

#[test]
#[ignore = "needs GPU"]
fn forced_timeout_is_a_typed_error_and_the_next_forward_works() {
    let c = gpu();
    let config = cfg(DType::Bf16, 8, 2, 256, (128, 128));
    let (w, x) = common::weights_and_inputs(&config, 1, 50, Inputs::Random);
    let x: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let mut layer = common::layer(&c, &config).unwrap();
    layer.load_weights(&w).unwrap();
    let good = layer.forward(&[&x]).unwrap();
    layer.set_timeout(Duration::from_millis(200));
    layer.inject_dropped_dispatch_flag(Some(3));
    let t = std::time::Instant::now();
    let err = layer.forward(&[&x]).unwrap_err();
    println!("forced timeout after {:?}: {err}", t.elapsed());
    assert!(matches!(err, Error::Timeout { wait: Wait::DispatchFlag, expert: Some(3), tile: Some(0), gpu: 0, .. }), "{err}");
    assert!(t.elapsed() < Duration::from_secs(3), "the timeout took {:?}", t.elapsed());
    layer.inject_dropped_dispatch_flag(None);
    let after = layer.forward(&[&x]).unwrap();
    assert!(good[0].iter().zip(&after[0]).all(|(a, b)| a.to_bits() == b.to_bits()), "forward after the timeout differs");
}

#[test]
#[ignore = "needs GPU"]
fn bad_inputs_are_typed_errors() {
    let c = gpu();
    let config = cfg(DType::Bf16, 8, 2, 64, (128, 128));
    let bad = MoeConfig { top_k: 9, ..config.clone() };
    assert!(matches!(common::layer(&c, &bad), Err(Error::Config(_))));
    let mut layer = common::layer(&c, &config).unwrap();
    let x = vec![0.5f32; 64 * 128];
    assert!(matches!(layer.forward(&[&x]), Err(Error::Weights(_))), "forward before load_weights");
    layer.load_weights(&Weights::random(&config, 1)).unwrap();
    let too_many = vec![0.5f32; 65 * 128];
    assert!(matches!(layer.forward(&[&too_many]), Err(Error::Config(_))));
    assert!(matches!(layer.forward(&[&x[..100]]), Err(Error::ShapeMismatch { .. })));
    let wrong = Weights::random(&MoeConfig { experts: 4, ..config }, 1);
    assert!(layer.load_weights(&wrong).is_err());
    // Fewer tokens than the maximum works.
    let y = layer.forward(&[&x[..10 * 128]]).unwrap();
    assert_eq!(y[0].len(), 10 * 128);
}

/// A grid capped by `Tuning::max_blocks` (for compute-sanitizer runs) computes the same layer:
/// 2 and 5 blocks against the f64 reference, with drops and T above a row tile, on the
/// engine the tests pick (the warp-specialized one with FLASHMOE_TEST_MAINLOOP=ws); 1 block is
/// a typed error.
#[test]
#[ignore = "needs GPU"]
fn a_capped_grid_computes_the_same_layer() {
    let c = gpu();
    let config = MoeConfig { gated: true, bias: true, ..cfg(DType::Bf16, 8, 2, 300, (256, 256)) };
    let one = Tuning { max_blocks: Some(1), ..common::tuning_for(&config) };
    assert!(
        matches!(
            flashmoe::MoeLayer::builder(&c, config.clone()).tuning(one).build(),
            Err(Error::Config(flashmoe::ConfigError::TooFewBlocks(1)))
        ),
        "a one-block grid was accepted"
    );
    for (i, blocks) in [2u32, 5].into_iter().enumerate() {
        let tuning = Tuning { max_blocks: Some(blocks), ..common::tuning_for(&config) };
        let v = check_tuned(&c, &config, &tuning, 900 + i as u64, Inputs::Random);
        println!("{blocks} blocks: rel_err {:.3e}, dropped {}", v.rel_err, v.dropped);
    }
}
