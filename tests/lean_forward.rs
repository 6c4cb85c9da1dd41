//! The lean decode kernel (one plain launch for at most 4 tokens on one GPU: every block routes
//! the tokens itself, takes (expert, 64-column slice of I) items, and the last block to finish
//! sums the partials in a fixed order) against the f64 reference: both 16-bit dtypes, k = 1..8,
//! E = 4..256, T = 1..4, odd H and I, gated and plain, biases, every activation, the routers it
//! takes (softmax, GPT-OSS's router bias, DeepSeek-V3's grouped sigmoid), capacity drops,
//! NaN-poisoned outputs and bitwise repeats; which forwards take it; a non-finite input.

mod common;

use common::{Inputs, check_tuned};
use flashmoe::entries::MainloopKind;
use flashmoe::{Activation, Cluster, DType, Error, LeanLaunch, MoeConfig, MoeLayer, Router, Tuning, Weights};

fn gpu() -> Cluster {
    Cluster::first(1).expect("a GPU")
}

fn lean() -> Tuning {
    Tuning { lean: Some(true), ..common::tuning() }
}

fn runs_lean(layer: &MoeLayer, tokens: usize) -> bool {
    layer.kernel_for(0, tokens).unwrap().0.mainloop.is_some_and(MainloopKind::lean)
}

#[test]
#[ignore = "needs GPU"]
fn lean_forwards_match_the_reference() {
    let c = gpu();
    let soft = Router::Softmax;
    let grouped = Router::GroupedSigmoid { groups: 4, topk_groups: 2, scaling: 2.5 };
    let (silu, gelu, relu) = (Activation::Silu, Activation::Gelu, Activation::Relu);
    let oss = Activation::ClampedSwiglu { alpha: 1.702, limit: 0.5 };
    // (dtype, E, k, T, (H, I), gated, bias, activation, router, router bias, capacity factor)
    let cases = [
        (DType::Bf16, 8, 2, 1, (256, 256), false, false, relu, soft, false, Some(1.0)),
        (DType::Bf16, 8, 2, 4, (256, 256), true, false, silu, soft, false, None),
        (DType::F16, 64, 4, 3, (192, 320), true, true, silu, soft, false, None),
        (DType::Bf16, 4, 1, 4, (320, 192), false, true, gelu, soft, false, None),
        (DType::F16, 16, 3, 2, (2048, 128), false, false, gelu, soft, false, Some(1.0)),
        (DType::Bf16, 128, 8, 4, (128, 512), true, false, silu, soft, false, None),
        (DType::Bf16, 256, 2, 1, (512, 64), false, true, relu, soft, false, None),
        (DType::Bf16, 8, 4, 4, (256, 448), true, true, oss, soft, true, None),
        (DType::F16, 16, 2, 3, (256, 256), true, false, silu, grouped, false, None),
        // Drops: capacity factor 0.5 at k = 4 keeps one or two rows an expert.
        (DType::Bf16, 4, 4, 4, (256, 256), false, false, relu, soft, false, Some(0.5)),
        (DType::Bf16, 8, 2, 4, (2048, 2048), true, false, silu, soft, false, Some(1.0)),
    ];
    for (i, (dtype, experts, top_k, tokens, (hidden, inter), gated, bias, activation, router, router_bias, capacity_factor)) in
        cases.into_iter().enumerate()
    {
        let cfg = MoeConfig {
            tokens,
            hidden,
            inter,
            experts,
            top_k,
            dtype,
            gated,
            bias,
            activation,
            router,
            router_bias,
            capacity_factor,
            ..MoeConfig::default()
        };
        let layer = MoeLayer::builder(&c, cfg.clone()).tuning(lean()).build().unwrap();
        assert!(runs_lean(&layer, tokens), "{cfg:?}");
        assert!(!layer.static_plan(0, tokens).unwrap(), "{cfg:?}");
        let v = check_tuned(&c, &cfg, &lean(), 900 + i as u64, Inputs::Random);
        if capacity_factor == Some(0.5) {
            assert!(v.dropped > 0, "{cfg:?}: {v:?}");
        }
    }
    // Every token to one expert, with and without a capacity limit.
    let skew = MoeConfig { tokens: 4, hidden: 256, inter: 256, experts: 16, top_k: 2, capacity_factor: None, ..MoeConfig::default() };
    assert_eq!(check_tuned(&c, &skew, &lean(), 950, Inputs::AllTo(5)).dropped, 0);
    let tight = MoeConfig { capacity_factor: Some(1.0), ..skew };
    assert!(check_tuned(&c, &tight, &lean(), 951, Inputs::AllTo(5)).dropped > 0);
}

/// The sweep (every block routes, then the whole grid streams the chosen experts' weights as
/// dot products, two grid barriers, the combine) against the f64 reference: both dtypes, k up
/// to 8, T = 1..8 (experts of three rows or more on tensor cores), gated and plain, biases,
/// drops, experts of long rows, sizes that are not powers of two (H = 320, I = 192), every
/// token to one expert; bitwise repeats.
#[test]
#[ignore = "needs GPU"]
fn sweep_forwards_match_the_reference() {
    let c = gpu();
    let (silu, gelu, relu) = (Activation::Silu, Activation::Gelu, Activation::Relu);
    let sweep = Tuning { lean_sweep: Some(true), ..lean() };
    // (dtype, E, k, T, (H, I), gated, bias, activation, capacity factor)
    for (i, (dtype, experts, top_k, tokens, (hidden, inter), gated, bias, activation, capacity_factor)) in [
        (DType::Bf16, 8, 2, 1, (2048, 2048), true, false, silu, None),
        (DType::Bf16, 8, 2, 4, (1024, 1536), false, true, relu, Some(1.0)),
        (DType::F16, 64, 4, 3, (192, 320), true, true, silu, None),
        (DType::Bf16, 128, 8, 4, (512, 256), true, false, silu, None),
        (DType::F16, 16, 3, 2, (4096, 704), false, false, gelu, Some(1.0)),
        (DType::Bf16, 4, 4, 4, (256, 256), false, false, relu, Some(0.5)),
        (DType::Bf16, 8, 1, 1, (256, 8192), true, true, silu, None),
        (DType::Bf16, 8, 2, 8, (2048, 2048), false, false, relu, None),
        (DType::F16, 8, 2, 6, (320, 192), true, true, silu, None),
        (DType::Bf16, 4, 4, 8, (256, 320), false, true, gelu, Some(0.5)),
        (DType::Bf16, 64, 1, 5, (512, 512), true, false, silu, None),
        (DType::F16, 16, 3, 7, (1024, 192), false, false, relu, None),
        (DType::Bf16, 8, 2, 8, (4096, 1024), true, true, silu, Some(1.0)),
        (DType::Bf16, 2, 1, 8, (256, 8192), false, true, relu, None),
    ]
    .into_iter()
    .enumerate()
    {
        let cfg =
            MoeConfig { tokens, hidden, inter, experts, top_k, dtype, gated, bias, activation, capacity_factor, ..MoeConfig::default() };
        let layer = MoeLayer::builder(&c, cfg.clone()).tuning(sweep.clone()).build().unwrap();
        assert_eq!(layer.lean_launch(0, tokens).unwrap(), Some(LeanLaunch::Sweep), "{cfg:?}");
        assert_eq!(layer.kernel_for(0, tokens).unwrap().0.mainloop, Some(MainloopKind::Sweep), "{cfg:?}");
        let v = check_tuned(&c, &cfg, &sweep, 1300 + i as u64, Inputs::Random);
        if capacity_factor == Some(0.5) {
            assert!(v.dropped > 0, "{cfg:?}: {v:?}");
        }
    }
    // Every token to one expert: eight rows on tensor cores, with and without a capacity limit.
    for (gated, bias) in [(false, false), (true, true)] {
        let skew = MoeConfig {
            tokens: 8,
            hidden: 512,
            inter: 384,
            experts: 16,
            top_k: 2,
            gated,
            bias,
            activation: Activation::Silu,
            capacity_factor: None,
            ..MoeConfig::default()
        };
        assert_eq!(check_tuned(&c, &skew, &sweep, 1350, Inputs::AllTo(5)).dropped, 0);
        let tight = MoeConfig { capacity_factor: Some(1.0), ..skew };
        assert!(check_tuned(&c, &tight, &sweep, 1351, Inputs::AllTo(5)).dropped > 0);
    }
}

/// The dense launch (every expert's items beside a routing block) and the routed one (the
/// chosen experts' items after every block routed) give the same bits, and both pass the
/// reference: each expert row's arithmetic is the same, and the sums run in the same order.
#[test]
#[ignore = "needs GPU"]
fn dense_and_routed_launches_agree_bitwise() {
    use flashmoe::numeric::NAN_BYTE;
    let c = gpu();
    let (silu, relu) = (Activation::Silu, Activation::Relu);
    // (dtype, E, k, T, (H, I), gated, bias, activation, capacity factor)
    for (i, (dtype, experts, top_k, tokens, (hidden, inter), gated, bias, activation, capacity_factor)) in [
        (DType::Bf16, 8, 2, 1, (256, 256), false, false, relu, Some(1.0)),
        (DType::Bf16, 8, 2, 4, (256, 256), true, true, silu, None),
        (DType::F16, 16, 3, 3, (192, 320), true, false, silu, None),
        (DType::Bf16, 4, 4, 4, (256, 256), false, true, relu, Some(0.5)),
        (DType::Bf16, 32, 8, 2, (320, 128), false, false, relu, None),
        (DType::F16, 8, 1, 4, (2048, 512), true, true, silu, Some(1.0)),
    ]
    .into_iter()
    .enumerate()
    {
        let cfg =
            MoeConfig { tokens, hidden, inter, experts, top_k, dtype, gated, bias, activation, capacity_factor, ..MoeConfig::default() };
        let (w, x) = common::weights_and_inputs(&cfg, 1, 1200 + i as u64, Inputs::Random);
        let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let mut outs = Vec::new();
        for lean_dense in [true, false] {
            let tuning = Tuning { lean_dense: Some(lean_dense), lean_sweep: Some(false), ..lean() };
            let mut layer = MoeLayer::builder(&c, cfg.clone()).tuning(tuning).build().unwrap();
            assert!(runs_lean(&layer, tokens), "{cfg:?}");
            layer.load_weights(&w).unwrap();
            layer.output_buffer(0).unwrap().fill(0, tokens * hidden * dtype.bytes() as usize, NAN_BYTE).unwrap();
            let out = layer.forward(&[&xs]).unwrap_or_else(|e| panic!("{cfg:?} dense {lean_dense}: {e}"));
            let v = flashmoe::verify::check(&layer, &w, &x, &out, tokens, None, 91).unwrap();
            println!(
                "{dtype:?} E={experts} k={top_k} T={tokens} H={hidden} I={inter} gated={gated} bias={bias} cf={capacity_factor:?} dense {lean_dense}: {v:?}"
            );
            assert!(v.passed(dtype), "{cfg:?} dense {lean_dense}: {v:?}");
            if capacity_factor == Some(0.5) {
                assert!(v.dropped > 0, "{cfg:?}: {v:?}");
            }
            outs.push((out.into_iter().next().unwrap(), layer.routing(0, tokens).unwrap()));
        }
        let bitwise = outs[0].0.iter().zip(&outs[1].0).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(bitwise, "{cfg:?}: the dense launch's output differs from the routed one's");
        assert_eq!(outs[0].1, outs[1].1, "{cfg:?}: the routing tables differ");
    }
}

/// Which forwards take it: at most 4 tokens for the items and 8 for the sweep, 16-bit types, one
/// GPU, no shared expert, not Llama-4's input-scaling router; `Tuning::lean: Some(false)` never; a layer built for more
/// tokens takes it for its small forwards only.
#[test]
#[ignore = "needs GPU"]
fn lean_is_taken_only_where_it_runs() {
    let c = gpu();
    let base = MoeConfig { tokens: 64, hidden: 256, inter: 256, experts: 8, top_k: 2, ..MoeConfig::default() };
    let layer = MoeLayer::builder(&c, base.clone()).tuning(lean()).build().unwrap();
    let items = |lean_dense| Tuning { lean_dense: Some(lean_dense), lean_sweep: Some(false), ..lean() };
    let routed = MoeLayer::builder(&c, base.clone()).tuning(items(false)).build().unwrap();
    let dense = MoeLayer::builder(&c, base.clone()).tuning(items(true)).build().unwrap();
    for t in 1..=4 {
        assert!(runs_lean(&layer, t) && runs_lean(&routed, t) && runs_lean(&dense, t), "T = {t}");
        assert_eq!(routed.lean_launch(0, t).unwrap(), Some(LeanLaunch::Routed));
        assert_eq!(dense.lean_launch(0, t).unwrap(), Some(LeanLaunch::Dense));
        let grid = routed.kernel_for(0, t).unwrap().1;
        assert_eq!(grid, (t * 2).min(8) as u32 * 4, "T = {t}: one block per (chosen expert, 64 columns)");
        assert_eq!(dense.kernel_for(0, t).unwrap().1, 1 + 8 * 4, "T = {t}: a routing block and every (expert, 64 columns)");
        if common::tuning().lean_dense.is_none() && common::tuning().lean_sweep.is_none() {
            // Dense while the tokens leave experts out (T·k < E) and 33 blocks fit one per SM
            // (`heuristics::lean_dense`).
            assert_eq!(layer.kernel_for(0, t).unwrap().1, if t < 4 { 33 } else { 32 }, "T = {t}");
        }
    }
    // Past four tokens the items never run: the sweep where it is asked for or the heuristic
    // takes it (T·k <= 2·E: up to T = 8 here), past eight tokens neither.
    let no_sweep = MoeLayer::builder(&c, base.clone()).tuning(Tuning { lean_sweep: Some(false), ..lean() }).build().unwrap();
    assert!(!runs_lean(&no_sweep, 5) && !runs_lean(&layer, 9) && !runs_lean(&layer, 64));
    match common::tuning().lean_sweep {
        None => assert!(runs_lean(&layer, 5) && runs_lean(&layer, 8)),
        Some(sweep) => assert_eq!(runs_lean(&layer, 8), sweep),
    }
    // Dense asked for where its 1 + 256 x 4 blocks exceed the persistent grid: routed.
    let wide = MoeConfig { experts: 256, ..base.clone() };
    let l = MoeLayer::builder(&c, wide).tuning(items(true)).build().unwrap();
    let (entry, grid) = l.kernel_for(0, 1).unwrap();
    assert_eq!((entry.mainloop, grid), (Some(MainloopKind::Dots), 2 * 4));
    // By default: the items where the last block's reduction and every block's gate are small
    // (`heuristics::lean`), densely where the tokens leave experts out and the launch fits one
    // block per SM (`heuristics::lean_dense`); else the sweep for few experts, tokens and weight
    // bytes (`heuristics::lean_sweep`); else the persistent engines.
    let by_default = |tokens: usize, experts: usize, (hidden, inter): (usize, usize), gated: bool| {
        let cfg = MoeConfig { hidden, inter, experts, gated, activation: Activation::Silu, ..base.clone() };
        let l = MoeLayer::builder(&c, cfg).tuning(common::tuning()).build().unwrap();
        let launch = l.lean_launch(0, tokens).unwrap();
        assert_eq!(launch.is_some(), runs_lean(&l, tokens));
        launch
    };
    let t = common::tuning();
    if t.lean.is_none() && t.lean_dense.is_none() && t.lean_sweep.is_none() {
        use LeanLaunch::{Dense, Routed, Sweep};
        assert_eq!(by_default(1, 8, (256, 256), false), Some(Dense));
        assert_eq!(by_default(4, 8, (256, 256), true), Some(Routed));
        assert_eq!(by_default(1, 8, (1024, 1024), false), Some(Sweep));
        assert_eq!(by_default(1, 8, (512, 512), false), Some(Dense));
        assert_eq!(by_default(1, 256, (256, 256), false), Some(Routed));
        assert_eq!(by_default(1, 8, (2048, 2048), false), Some(Sweep));
        assert_eq!(by_default(2, 8, (1024, 1024), false), Some(Sweep));
        assert_eq!(by_default(1, 8, (1536, 1536), true), Some(Sweep));
        assert_eq!(by_default(1, 8, (4096, 4096), false), Some(Sweep));
        assert_eq!(by_default(2, 8, (4096, 14336), true), None);
        assert_eq!(by_default(1, 64, (2048, 2048), true), Some(Sweep));
        assert_eq!(by_default(4, 8, (2048, 2048), false), Some(Sweep));
        assert_eq!(by_default(8, 16, (1024, 1024), false), Some(Sweep));
        assert_eq!(by_default(8, 16, (2048, 2048), false), Some(Sweep));
        assert_eq!(by_default(8, 8, (2048, 2048), false), Some(Sweep));
        assert_eq!(by_default(8, 64, (2048, 2048), false), None);
        assert_eq!(by_default(4, 8, (4096, 14336), true), None);
    }
    let never = MoeLayer::builder(&c, base.clone()).tuning(Tuning { lean: Some(false), ..common::tuning() }).build().unwrap();
    assert!(!runs_lean(&never, 1));
    for other in [
        MoeConfig { dtype: DType::F32, ..base.clone() },
        MoeConfig { shared: Some(flashmoe::SharedExpert { inter: 128, sigmoid_gate: false }), gated: true, ..base.clone() },
        MoeConfig { router: Router::SigmoidScaledInput, top_k: 1, renormalize: false, ..base.clone() },
    ] {
        let l = MoeLayer::builder(&c, other.clone()).tuning(lean()).build().unwrap();
        assert!(!runs_lean(&l, 1), "{other:?}");
    }
}

/// A NaN in one token's input: the typed error names the token, and the next forward is right.
#[test]
#[ignore = "needs GPU"]
fn a_non_finite_input_is_a_typed_error() {
    let c = gpu();
    let cfg = MoeConfig { tokens: 3, hidden: 256, inter: 256, experts: 8, top_k: 2, ..MoeConfig::default() };
    let mut layer = MoeLayer::builder(&c, cfg.clone()).tuning(lean()).build().unwrap();
    let w = Weights::random(&cfg, 3);
    layer.load_weights(&w).unwrap();
    let (_, x) = common::weights_and_inputs(&cfg, 1, 3, Inputs::Random);
    let mut xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let good = layer.forward(&[&xs]).unwrap();
    xs[cfg.hidden + 7] = f32::NAN;
    let err = layer.forward(&[&xs]).unwrap_err();
    assert!(matches!(err, Error::NonFiniteInput { token: 1, gpu: 0 }), "{err}");
    xs[cfg.hidden + 7] = x[cfg.hidden + 7] as f32;
    let again = layer.forward(&[&xs]).unwrap();
    assert!(good[0].iter().zip(&again[0]).all(|(a, b)| a.to_bits() == b.to_bits()));
}
