//! Hugging Face layers on the GPU: synthetic folders of each family the kernel runs (every family
//! but those with a shared expert; DeepSeek-V3 without one) against the f64 reference,
//! and (when `FLASHMOE_HF_CONFORMANCE` names the output folder of `benches/hf_conformance.py`)
//! transformers' own sparse-MoE blocks against flashmoe on the checkpoints transformers saved.

mod common;

use std::path::{Path, PathBuf};

use common::Inputs;
use flashmoe::hf::{Family, HfLayer, Layout, synthetic};
use flashmoe::numeric::relative_l2;
use flashmoe::{Activation, CheckpointError, Cluster, DType, Error, MoeConfig, Router, Weights, reference, verify};
use safetensors::{Dtype, SafeTensors};

fn gpu() -> Cluster {
    Cluster::first(1).expect("a GPU")
}

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flashmoe-hf-gpu-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Writes layers 0 and 1 of `family` for `cfg` (layer 1 from `seed`), loads layer 1 back, runs it
/// on the GPU and checks it against the f64 reference (and bitwise repeat).
fn synthetic_layer_on_gpu(cluster: &Cluster, family: Family, layout: Layout, cfg: &MoeConfig, seed: u64) {
    let dir = folder(&format!("{}-{layout:?}-{seed}", family.model_type()));
    let w = Weights::random(cfg, seed);
    let mut tensors = synthetic::layer_tensors(family, layout, 0, cfg, &Weights::random(cfg, seed + 100));
    tensors.extend(synthetic::layer_tensors(family, layout, 1, cfg, &w));
    synthetic::write(&dir, &synthetic::config_json(family, cfg, 2), &tensors, 3).unwrap();
    let hf = HfLayer::open(&dir, 1).unwrap();
    assert_eq!(hf.weights, w);
    let loaded = hf.config(cfg.tokens);
    assert_eq!(loaded.capacity_factor, None);
    let v = common::check(cluster, &loaded, seed, Inputs::Random);
    assert_eq!(v.dropped, 0, "Hugging Face layers drop nothing");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "needs GPU"]
fn synthetic_mixtral_layer_matches_the_reference() {
    let cfg = MoeConfig {
        tokens: 130,
        hidden: 256,
        inter: 512,
        experts: 8,
        top_k: 2,
        gated: true,
        bias: false,
        router_bias: false,
        activation: Activation::Silu,
        capacity_factor: None,
        renormalize: true,
        dtype: DType::Bf16,
        ..MoeConfig::default()
    };
    synthetic_layer_on_gpu(&gpu(), Family::Mixtral, Layout::PerExpert, &cfg, 1);
}

/// GPT-OSS: router bias, expert biases and the clamped SwiGLU, loaded from its interleaved,
/// transposed stacks; k = 1..4, one token and 130, GPT-OSS's clamp and one that most values hit.
#[test]
#[ignore = "needs GPU"]
fn synthetic_gpt_oss_layer_matches_the_reference() {
    let c = gpu();
    let base = MoeConfig {
        tokens: 130,
        hidden: 256,
        inter: 192,
        experts: 8,
        top_k: 4,
        gated: true,
        bias: true,
        router_bias: true,
        activation: Activation::GPT_OSS,
        capacity_factor: None,
        renormalize: true,
        dtype: DType::Bf16,
        ..MoeConfig::default()
    };
    let mut seed = 60;
    for top_k in 1..=4 {
        for tokens in [1, 130] {
            synthetic_layer_on_gpu(&c, Family::GptOss, Layout::Interleaved, &MoeConfig { top_k, tokens, ..base.clone() }, seed);
            seed += 1;
        }
    }
    let clamped = MoeConfig { activation: Activation::ClampedSwiglu { alpha: 1.702, limit: 0.5 }, ..base.clone() };
    synthetic_layer_on_gpu(&c, Family::GptOss, Layout::Interleaved, &clamped, seed);
    synthetic_layer_on_gpu(&c, Family::GptOss, Layout::Interleaved, &MoeConfig { dtype: DType::F32, ..clamped }, seed + 1);
}

#[test]
#[ignore = "needs GPU"]
fn synthetic_families_and_layouts_match_the_reference() {
    let c = gpu();
    let base = MoeConfig {
        tokens: 257,
        hidden: 128,
        inter: 192,
        experts: 16,
        top_k: 4,
        gated: true,
        bias: false,
        router_bias: false,
        activation: Activation::Silu,
        capacity_factor: None,
        renormalize: false,
        dtype: DType::F16,
        ..MoeConfig::default()
    };
    synthetic_layer_on_gpu(&c, Family::Mixtral, Layout::Fused, &MoeConfig { renormalize: true, ..base.clone() }, 2);
    synthetic_layer_on_gpu(&c, Family::Qwen3Moe, Layout::PerExpert, &base, 3);
    synthetic_layer_on_gpu(&c, Family::Qwen3Moe, Layout::Fused, &MoeConfig { renormalize: true, dtype: DType::Bf16, ..base.clone() }, 4);
    synthetic_layer_on_gpu(&c, Family::Olmoe, Layout::PerExpert, &MoeConfig { dtype: DType::F32, ..base }, 5);
}

/// DeepSeek-V3 without shared experts (`n_shared_experts` = 0): its grouped sigmoid router
/// (`n_group`, `topk_group`, `norm_topk_prob`, `routed_scaling_factor` and the F32
/// `e_score_correction_bias`) runs in the kernel. Per-expert and fused layouts, DeepSeek-V3's own
/// routing shape (256 experts, 8 groups, 4 kept, k = 8) and small ones, every dtype.
#[test]
#[ignore = "needs GPU"]
fn synthetic_deepseek_v3_layer_without_shared_experts_matches_the_reference() {
    let c = gpu();
    let ds = |experts: usize, groups: usize, topk_groups: usize, top_k: usize, renormalize: bool, dtype: DType| MoeConfig {
        tokens: 130,
        hidden: 256,
        inter: 128,
        experts,
        top_k,
        gated: true,
        activation: Activation::Silu,
        capacity_factor: None,
        renormalize,
        dtype,
        router: Router::GroupedSigmoid { groups, topk_groups, scaling: 2.5 },
        ..MoeConfig::default()
    };
    synthetic_layer_on_gpu(&c, Family::DeepseekV3, Layout::PerExpert, &ds(256, 8, 4, 8, true, DType::Bf16), 80);
    synthetic_layer_on_gpu(&c, Family::DeepseekV3, Layout::Fused, &ds(16, 4, 2, 4, false, DType::F16), 81);
    synthetic_layer_on_gpu(&c, Family::DeepseekV3, Layout::PerExpert, &ds(64, 8, 4, 6, true, DType::F32), 82);
    synthetic_layer_on_gpu(&c, Family::DeepseekV3, Layout::Fused, &MoeConfig { tokens: 1, ..ds(64, 1, 1, 8, true, DType::Bf16) }, 83);
}

/// One case written by benches/hf_conformance.py.
struct Case {
    name: String,
    checkpoint: PathBuf,
    layer: usize,
    /// Layers without a mixture-of-experts block (flashmoe must refuse them by name).
    dense: Vec<usize>,
    tokens: usize,
    x: Vec<f32>,
    y: Vec<f32>,
}

fn f32s(st: &SafeTensors, name: &str) -> Vec<f32> {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("tensor {name}: {e}"));
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// The cases under `root` (each `<case>/io.safetensors` with metadata naming its checkpoint).
fn cases(root: &Path) -> Vec<Case> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("io.safetensors").is_file()).collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let bytes = std::fs::read(dir.join("io.safetensors")).unwrap();
            let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
            let meta = meta.metadata().clone().expect("io.safetensors carries metadata");
            let st = SafeTensors::deserialize(&bytes).unwrap();
            Case {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                checkpoint: dir.join(&meta["checkpoint"]),
                layer: meta["layer"].parse().unwrap(),
                dense: meta
                    .get("dense_layers")
                    .map_or(Vec::new(), |d| d.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect()),
                tokens: meta["tokens"].parse().unwrap(),
                x: f32s(&st, "x"),
                y: f32s(&st, "y"),
            }
        })
        .collect()
}

fn conformance_root() -> Option<PathBuf> {
    let root = PathBuf::from(std::env::var_os("FLASHMOE_HF_CONFORMANCE")?);
    assert!(root.is_dir(), "FLASHMOE_HF_CONFORMANCE={} is not a folder", root.display());
    Some(root)
}

/// The f64 reference on the weights flashmoe loaded equals transformers' fp32 block output:
/// names, orientation, routing and renormalisation agree (CPU only; skipped without the folder).
#[test]
fn transformers_blocks_match_the_reference_on_loaded_weights() {
    let Some(root) = conformance_root() else {
        eprintln!("skipped: FLASHMOE_HF_CONFORMANCE is not set (run benches/hf_conformance.py first)");
        return;
    };
    let all = cases(&root);
    assert!(!all.is_empty(), "no cases under {}", root.display());
    for case in all {
        let hf = HfLayer::open(&case.checkpoint, case.layer).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let cfg = hf.config(case.tokens);
        let x: Vec<f64> = case.x.iter().map(|&v| v as f64).collect();
        let (out, routing) = reference::forward(&cfg, 1, &hf.weights, &x);
        let y: Vec<f64> = case.y.iter().map(|&v| v as f64).collect();
        let err = relative_l2(&out, &y);
        println!(
            "{}: {:?} {:?} renormalize={} rel L2 vs transformers {err:.2e} ({} pairs)",
            case.name,
            hf.spec.family,
            hf.spec.layout,
            cfg.renormalize,
            routing.kept()
        );
        assert!(err < 1e-4, "{}: reference vs transformers rel L2 {err:.3e}", case.name);
        for &d in &case.dense {
            let r = HfLayer::open(&case.checkpoint, d);
            assert!(
                matches!(r, Err(Error::Checkpoint(CheckpointError::DenseLayer { layer, .. })) if layer == d),
                "{}: dense layer {d}",
                case.name
            );
        }
    }
}

/// flashmoe's kernel on the checkpoints transformers saved, against transformers' block outputs.
#[test]
#[ignore = "needs GPU"]
fn transformers_blocks_match_the_gpu_layer() {
    let Some(root) = conformance_root() else {
        eprintln!("skipped: FLASHMOE_HF_CONFORMANCE is not set (run benches/hf_conformance.py first)");
        return;
    };
    let cluster = gpu();
    for case in cases(&root) {
        let hf = HfLayer::open(&case.checkpoint, case.layer).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let cfg = hf.config(case.tokens);
        if let Err(e) = cfg.kernel_support() {
            println!("{}: skipped on the GPU ({e})", case.name);
            continue;
        }
        let mut layer = common::layer(&cluster, &cfg).unwrap();
        layer.load_weights(&hf.weights).unwrap();
        let out = layer.forward(&[&case.x]).unwrap();
        let x: Vec<f64> = case.x.iter().map(|&v| v as f64).collect();
        let v = verify::check(&layer, &hf.weights, &x, &out, cfg.tokens, None, 7).unwrap();
        let got: Vec<f64> = out[0].iter().map(|&v| v as f64).collect();
        let y: Vec<f64> = case.y.iter().map(|&v| v as f64).collect();
        let err = relative_l2(&got, &y);
        println!("{}: {:?} rel L2 vs transformers {err:.2e}, vs f64 reference {:.2e}; {v:?}", case.name, cfg.dtype, v.rel_err);
        assert!(v.passed(cfg.dtype), "{}: {v:?}", case.name);
        assert!(err <= verify::bound(cfg.dtype), "{}: rel L2 vs transformers {err:.3e}", case.name);
    }
}
