//! The kernel across every GPU of the machine (2, 4, up to 8): expert-parallel dispatch and
//! combine by one-sided writes, checked against the f64 reference over all GPUs' tokens.

mod common;

use std::time::Duration;

use common::{Inputs, check, per_gpu};
use flashmoe::{Activation, Cluster, DType, Error, MoeConfig, Router, SharedExpert, Wait};

/// All GPUs, or None (test skipped) on a one-GPU machine.
fn gpus() -> Option<Cluster> {
    let c = Cluster::all_local().expect("a GPU");
    if c.len() < 2 {
        eprintln!("skipped: needs 2 or more GPUs, found {}", c.len());
        return None;
    }
    Some(c)
}

fn cfg(dtype: DType, experts: usize, top_k: usize, tokens: usize, dims: (usize, usize)) -> MoeConfig {
    MoeConfig { tokens, hidden: dims.0, inter: dims.1, experts, top_k, dtype, ..MoeConfig::default() }
}

#[test]
#[ignore = "needs GPU"]
fn multi_gpu_matrix() {
    let Some(c) = gpus() else { return };
    let g = c.len();
    for (i, (dtype, e, k, t)) in [
        (DType::Bf16, 8, 2, 100),
        (DType::Bf16, 8 * g, 1, 1),
        (DType::F32, 32, 2, 100),
        (DType::Bf16, 32, 4, 4096),
        (DType::Bf16, 128, 2, 100),
        (DType::F32, 128, 1, 4096),
    ]
    .into_iter()
    .enumerate()
    {
        check(&c, &cfg(dtype, e, k, t, (256, 512)), 100 + i as u64, Inputs::Random);
    }
    check(&c, &cfg(DType::Bf16, 32, 2, 4096, (2048, 2048)), 110, Inputs::Random);
    // GPT-OSS's router bias (on every GPU) and clamped SwiGLU with expert biases.
    let oss = MoeConfig {
        activation: Activation::ClampedSwiglu { alpha: 1.702, limit: 0.5 },
        gated: true,
        bias: true,
        router_bias: true,
        capacity_factor: None,
        ..cfg(DType::Bf16, 8 * g, 4, 300, (256, 320))
    };
    check(&c, &oss, 111, Inputs::Random);
    // DeepSeek-V3's grouped sigmoid router, and Llama-4's input scale on rows sent to peers.
    let grouped = MoeConfig {
        router: Router::GroupedSigmoid { groups: 8, topk_groups: 4, scaling: 2.5 },
        gated: true,
        activation: Activation::Silu,
        ..cfg(DType::Bf16, 32 * g, 8, 1000, (256, 256))
    };
    check(&c, &grouped, 112, Inputs::Random);
    let llama4 = MoeConfig {
        router: Router::SigmoidScaledInput,
        renormalize: false,
        gated: true,
        bias: true,
        activation: Activation::Silu,
        ..cfg(DType::Bf16, 4 * g, 2, 1000, (256, 320))
    };
    check(&c, &llama4, 113, Inputs::Random);
    // Shared experts: each GPU runs its own tokens' (no dispatch) while the routed rows cross
    // GPUs: DeepSeek-V3's router with a shared expert of weight 1, Qwen2-MoE's sigmoid gate,
    // Llama-4's on the unscaled input, and every token of every GPU to expert 1 with drops.
    let shared = |inter: usize, sigmoid_gate: bool| Some(SharedExpert { inter, sigmoid_gate });
    check(&c, &MoeConfig { shared: shared(512, false), ..grouped.clone() }, 114, Inputs::Random);
    let qwen2 =
        MoeConfig { gated: true, activation: Activation::Silu, shared: shared(320, true), ..cfg(DType::Bf16, 8 * g, 4, 1000, (256, 256)) };
    check(&c, &qwen2, 115, Inputs::Random);
    check(&c, &MoeConfig { shared: shared(192, false), ..llama4.clone() }, 116, Inputs::Random);
    let skewed = MoeConfig { shared: shared(128, true), ..cfg(DType::F32, 4 * g, 2, 500, (256, 256)) };
    assert!(check(&c, &skewed, 117, Inputs::AllTo(1)).dropped > 0);
    check(&c, &MoeConfig { shared: shared(256, false), ..cfg(DType::Bf16, 8 * g, 1, 1, (256, 512)) }, 118, Inputs::Random);
}

#[test]
#[ignore = "needs GPU"]
fn multi_gpu_skew_drops_and_silent_gpus() {
    let Some(c) = gpus() else { return };
    let g = c.len();
    // Every token of every GPU to expert 1 (on GPU 0), no capacity limit, then with drops.
    check(&c, &MoeConfig { capacity_factor: None, ..cfg(DType::Bf16, 4 * g, 2, 500, (256, 256)) }, 120, Inputs::AllTo(1));
    let v = check(&c, &cfg(DType::Bf16, 4 * g, 2, 500, (256, 256)), 121, Inputs::AllTo(1));
    assert!(v.dropped > 0);
    // k = 1 and every token prefers an expert on its own GPU: no GPU sends a row to a peer, yet
    // every peer still learns (from count-0 flags) that nothing comes.
    check(&c, &cfg(DType::Bf16, 4 * g, 1, 300, (256, 256)), 122, Inputs::Local(2));
    check(&c, &cfg(DType::F32, 4 * g, 2, 300, (256, 256)), 123, Inputs::Local(0));
}

#[test]
#[ignore = "needs GPU"]
fn multi_gpu_dropped_flag_times_out_everywhere_then_recovers() {
    let Some(c) = gpus() else { return };
    let config = cfg(DType::Bf16, 4 * c.len(), 2, 256, (128, 128));
    let (w, x) = common::weights_and_inputs(&config, c.len(), 130, Inputs::Random);
    let xs = per_gpu(&config, &x);
    let slices: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
    let mut layer = common::layer(&c, &config).unwrap();
    layer.load_weights(&w).unwrap();
    let good = layer.forward(&slices).unwrap();
    layer.set_timeout(Duration::from_millis(300));
    layer.inject_dropped_dispatch_flag(Some(1));
    let t = std::time::Instant::now();
    let err = layer.forward(&slices).unwrap_err();
    println!("dropped flag on {} GPUs -> after {:?}: {err}", c.len(), t.elapsed());
    assert!(matches!(&err, Error::Timeout { wait: Wait::DispatchFlag, expert: Some(1), .. }), "{err}");
    assert!(t.elapsed() < Duration::from_secs(3));
    layer.inject_dropped_dispatch_flag(None);
    let after = layer.forward(&slices).unwrap();
    for (a, b) in good.iter().zip(&after) {
        assert!(a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()), "forward after the timeout differs");
    }
}

#[test]
#[ignore = "needs GPU"]
fn multi_gpu_partial_launch_failure_aborts_the_started_gpus() {
    let Some(c) = gpus() else { return };
    let g = c.len();
    let config = cfg(DType::Bf16, 8 * g, 2, 1000, (256, 256));
    let (w, x) = common::weights_and_inputs(&config, g, 71, common::Inputs::Random);
    let xs = per_gpu(&config, &x);
    let slices: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
    let mut layer = common::layer(&c, &config).unwrap();
    layer.load_weights(&w).unwrap();
    let good = layer.forward(&slices).unwrap();
    // GPUs 0..g-1 start; the last never does, so the started ones wait for its rows until aborted.
    layer.inject_launch_failure(Some(g - 2));
    let t = std::time::Instant::now();
    let err = layer.forward(&slices).unwrap_err();
    println!("partial launch failure on {g} GPUs: {err} after {:?} (kernel timeout 5 s)", t.elapsed());
    assert!(matches!(err, Error::InjectedLaunchFailure { .. }), "{err}");
    assert!(t.elapsed() < Duration::from_secs(2), "the started GPUs were not aborted");
    layer.inject_launch_failure(None);
    let after = layer.forward(&slices).unwrap();
    assert!(
        good.iter().zip(&after).all(|(a, b)| a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits())),
        "forward after the failure differs"
    );
}

/// Two layers on scratches of their own over the same GPUs: while one's forward runs, the
/// other's launch is refused (Busy), not left to wait for flags across GPUs; after `wait` it
/// runs, and both match their plain forwards.
#[test]
#[ignore = "needs GPU"]
fn a_second_arena_on_the_same_gpus_waits_its_turn() {
    let Some(c) = gpus() else { return };
    let config = cfg(DType::Bf16, 4 * c.len(), 2, 256, (128, 128));
    let (w, x) = common::weights_and_inputs(&config, c.len(), 140, Inputs::Random);
    let xs = per_gpu(&config, &x);
    let slices: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
    let (mut a, mut b) = (common::layer(&c, &config).unwrap(), common::layer(&c, &config).unwrap());
    a.load_weights(&w).unwrap();
    b.load_weights(&w).unwrap();
    let plain = a.forward(&slices).unwrap();
    b.forward(&slices).unwrap();
    a.launch(config.tokens).unwrap();
    let err = b.launch(config.tokens).unwrap_err();
    assert!(matches!(err, Error::Busy(_)), "{err}");
    a.wait().unwrap();
    b.launch(config.tokens).unwrap();
    b.wait().unwrap();
    let again = b.forward(&slices).unwrap();
    for (p, q) in plain.iter().zip(&again) {
        assert!(p.iter().zip(q).all(|(u, v)| u.to_bits() == v.to_bits()), "the second arena's forward differs");
    }
}
