//! One mixture-of-experts layer of a Hugging Face model folder, loaded as a flashmoe layer (the
//! `safetensors` feature).
//!
//! ```no_run
//! use flashmoe::{Cluster, MoeLayer, hf::HfLayer};
//! let hf = HfLayer::open("Mixtral-8x7B-v0.1".as_ref(), 3)?;   // config.json + the layer's tensors
//! let config = hf.config(4096);                                 // T = 4096 tokens per GPU
//! let cluster = Cluster::all_local()?;
//! let mut layer = MoeLayer::new(&cluster, config)?;
//! layer.load_weights(&hf.weights)?;
//! # Ok::<(), flashmoe::Error>(())
//! ```
//!
//! Families whose router and experts the kernel implements (softmax over the gate logits, top-k,
//! renormalised or not; gated experts act(x·W1ᵀ) * (x·W3ᵀ) then ·W2ᵀ; no biases; nothing dropped,
//! as Hugging Face drops nothing):
//!
//! | `model_type` | MoE block (layer N)                | experts                       | config fields |
//! |--------------|------------------------------------|-------------------------------|---------------|
//! | `mixtral`    | `model.layers.N.block_sparse_moe.` | `experts.{e}.w1/w3/w2.weight` | `num_local_experts` (alias `num_experts`), `num_experts_per_tok`, `intermediate_size`, `hidden_act`; always renormalised |
//! | `qwen3_moe`  | `model.layers.N.mlp.`              | `experts.{e}.gate_proj/up_proj/down_proj.weight` | `num_experts` (alias `num_local_experts`), `num_experts_per_tok`, `moe_intermediate_size`, `norm_topk_prob`, `decoder_sparse_step`, `mlp_only_layers` |
//! | `olmoe`      | `model.layers.N.mlp.`              | as `qwen3_moe`                | `num_experts` (alias `num_local_experts`), `num_experts_per_tok`, `intermediate_size`, `norm_topk_prob` |
//! | `gpt_oss`    | `model.layers.N.mlp.`              | `experts.gate_up_proj`, `experts.gate_up_proj_bias`, `experts.down_proj`, `experts.down_proj_bias` ([`Layout::Interleaved`]) | `num_local_experts` (alias `num_experts`), `num_experts_per_tok`, `intermediate_size`, `swiglu_limit`, `swiglu_alpha`; router `router.weight` + `router.bias`; always renormalised |
//!
//! The router is `gate.weight` [E, H] in every family but GPT-OSS. Expert tensors are `nn.Linear` weights,
//! out-features first: gate projection (`w1`, `gate_proj`) and up projection (`w3`, `up_proj`)
//! [I, H], down projection (`w2`, `down_proj`) [H, I], so they land unchanged in flashmoe's `W1`,
//! `W3` [E, I, H] and `W2` [E, H, I].
//!
//! Transformers 5 keeps experts in memory fused, and writes them that way with
//! `save_pretrained(..., save_original_format=False)`: `model.layers.N.mlp.experts.gate_up_proj`
//! [E, 2I, H] (rows 0..I the gate projection, rows I..2I the up projection: its forward is
//! `linear(x, gate_up_proj[e]).chunk(2, dim=-1)` → gate, up) and `mlp.experts.down_proj`
//! [E, H, I], with the router at `mlp.gate.weight`, for Mixtral too. Both layouts load
//! ([`Layout`]). A default `save_pretrained` reverts to the per-expert names above.
//!
//! Sources checked (huggingface/transformers): `models/mixtral/modular_mixtral.py` and
//! `configuration_mixtral.py` (4.x: `block_sparse_moe`, `gate` = `nn.Linear(H, E)`,
//! `w1`/`w3` = `nn.Linear(H, I)`, `w2` = `nn.Linear(I, H)`, softmax → top-k → divide by the sum;
//! `base_model_tp_plan` names `layers.*.block_sparse_moe.experts.*.w1`), `modeling_mixtral.py` of 5.x
//! (`MixtralExperts.gate_up_proj` [E, 2I, H], `down_proj` [E, H, I], `MixtralTopKRouter.weight`
//! [E, H]), `models/qwen3_moe/modeling_qwen3_moe.py` and `configuration_qwen3_moe.py` (sparse when
//! `layer not in mlp_only_layers and num_experts > 0 and (layer + 1) % decoder_sparse_step == 0`;
//! `norm_topk_prob` defaults to false), `models/olmoe/modular_olmoe.py` and
//! `configuration_olmoe.py` (every layer sparse; experts sized by `intermediate_size`;
//! `norm_topk_prob` defaults to false), `conversion_mapping.py` (mixtral: rename
//! `.block_sparse_moe.` → `.mlp.`, stack `experts.*.w1.weight` then `experts.*.w3.weight` on dim
//! 1 into `gate_up_proj`, `experts.*.w2.weight` into `down_proj`; qwen2_moe, qwen3_moe, olmoe:
//! the same from `gate_proj`/`up_proj`/`down_proj`), `core_model_loading.py`
//! (`revert_weight_conversion` on save) and `activations.py` (`silu`/`swish` = SiLU, `gelu` = the
//! erf form, `relu`). The config's dtype is `dtype` (transformers 5) or `torch_dtype` (4.x).
//! Then run: transformers 5.24.0's `save_pretrained` of tiny models of the three families wrote
//! exactly these names (per-expert by default, the fused stacks with
//! `save_original_format=False`), and its config classes alias the expert count
//! (`attribute_map`: Mixtral and Qwen3-MoE save `num_local_experts`, OLMoE `num_experts`);
//! `benches/hf_conformance.py` reproduces that check.
//!
//! GPT-OSS (`gpt_oss`) is its own layout, the same in memory and on disk (transformers has no
//! weight conversion for it): the router is `mlp.router.weight` [E, H] with `mlp.router.bias`
//! `[E]`; its forward takes top-k of the biased logits and a softmax over those k (= softmax,
//! top-k, renormalised). The experts are stacks used as `x @ W`, not `nn.Linear` weights:
//! `experts.gate_up_proj` [E, H, 2I] whose even columns are the gate projection and odd columns
//! the up projection (`gate_up[..., ::2]`, `gate_up[..., 1::2]`), `experts.gate_up_proj_bias`
//! [E, 2I] interleaved the same way, `experts.down_proj` [E, I, H] and `experts.down_proj_bias`
//! [E, H]. The loader de-interleaves and transposes them into `W1`, `W3` [E, I, H], `b1`, `b3`
//! [E, I], `W2` [E, H, I], `b2`, and the gate bias; the activation is the clamped SwiGLU
//! ([`Activation::ClampedSwiglu`], `swiglu_alpha` default 1.702, `swiglu_limit` default 7.0;
//! `hidden_act` is not used by GPT-OSS's experts). The published checkpoints store the experts
//! MXFP4-quantized (`gate_up_proj_blocks` / `_scales`, `quantization_config` with `quant_method`
//! `mxfp4`): refused with [`CheckpointError::Unsupported`]; a bf16 copy loads (transformers writes
//! one after `from_pretrained(..., quantization_config=Mxfp4Config(dequantize=True))`).
//! Sources checked for GPT-OSS (huggingface/transformers): `models/gpt_oss/modeling_gpt_oss.py`
//! (`GptOssTopKRouter.forward`: `F.linear(x, weight, bias)`, `torch.topk`, softmax over the top
//! values; `GptOssExperts.__init__` shapes and `_apply_gate` / `forward`:
//! `x @ gate_up_proj[e] + gate_up_proj_bias[e]`, `gate.clamp(max=limit)`,
//! `up.clamp(-limit, limit)`, `gate * sigmoid(gate * alpha)`, `(up + 1) * glu`,
//! `@ down_proj[e] + down_proj_bias[e]`; `GptOssDecoderLayer`: every layer's `mlp` is the MoE
//! block), `configuration_gpt_oss.py` (`num_local_experts` with `attribute_map` alias
//! `num_experts`, `swiglu_alpha` 1.702 and `swiglu_limit` 7.0 in 5.x; 4.5x releases hard-code
//! alpha = 1.702 and limit = 7.0 in the experts, the published configs' values), and
//! `integrations/mxfp4.py` (the MXFP4 tensors; dequantized to [E, H, 2I]). Then run:
//! transformers 5.24.0's `save_pretrained` of a tiny `GptOssForCausalLM` wrote exactly these six
//! names and shapes (`benches/hf_conformance.py` reproduces it and records the block's output).
//!
//! Families with a shared expert (`MoeLayer` refuses a shared expert with
//! `ConfigError::NotInKernel`, so these run in the f64 reference only, except a `deepseek_v3`
//! layer with `n_shared_experts` = 0, whose grouped router the kernel runs):
//! `qwen2_moe` (as `qwen3_moe`, plus `mlp.shared_expert.{gate,up,down}_proj.weight` of width
//! `shared_expert_intermediate_size` and `mlp.shared_expert_gate.weight` [1, H]:
//! `Qwen2MoeSparseMoeBlock` adds sigmoid(x · gᵀ) · shared_expert(x)); `deepseek_v3` (as
//! `qwen3_moe` with `n_routed_experts`, plus `mlp.gate.e_score_correction_bias` \[E\] and
//! `mlp.shared_experts.*` of width `moe_intermediate_size · n_shared_experts`;
//! `DeepseekV3TopkRouter`: [`Router::GroupedSigmoid`] from `n_group`, `topk_group`,
//! `norm_topk_prob` (default true), `routed_scaling_factor` (default 2.5); layers below
//! `first_k_dense_replace` are dense; `topk_method` other than `noaux_tc`, `scoring_func` other
//! than `sigmoid` and `moe_layer_freq` other than 1 are refused); `llama4_text` / `llama4`
//! (`model.layers.N.feed_forward.` / `language_model.model.layers.N.feed_forward.` with the
//! fields under `text_config`: `router.weight`, `experts.gate_up_proj` [E, H, 2I] used as
//! `x @ W` with gate columns 0..I and up columns I..2I ([`Layout::Chunked`]),
//! `experts.down_proj` [E, I, H], `shared_expert.*` of width `intermediate_size`;
//! `Llama4Router` / `Llama4TextMoe`: [`Router::SigmoidScaledInput`]; MoE layers `moe_layers`,
//! else every `interleave_moe_layer_step`-th). Names checked with transformers 5.24.0's
//! `save_pretrained` of tiny models and `benches/hf_conformance.py`. Checkpoints with a
//! `quantization_config` are refused with [`CheckpointError::Unsupported`]. Any other
//! `model_type` is [`CheckpointError::UnknownModelType`].
//!
//! Only the requested layer's tensors are read: the safetensors headers of the shards that hold
//! them, then each tensor's byte range (one expert at a time), never a whole shard.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, Metadata};
use serde_json::Value;

use crate::config::{Activation, DType, MoeConfig, Router, SharedExpert};
use crate::error::{CheckpointError, Result};
use crate::safetensors_io::{decode_into, element_bytes};
use crate::weights::Weights;

/// The supported families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Mixtral,
    Qwen3Moe,
    Olmoe,
    GptOss,
    /// Qwen2-MoE (Qwen1.5-MoE, Qwen2-57B-A14B): softmax router, shared expert with a sigmoid gate.
    Qwen2Moe,
    /// DeepSeek-V3 / Kimi-K2 (`deepseek_v3`): grouped sigmoid router, shared experts.
    DeepseekV3,
    /// Llama-4 text-only checkpoints (`llama4_text`, `Llama4ForCausalLM`).
    Llama4Text,
    /// Llama-4 multimodal checkpoints (`llama4`, `Llama4ForConditionalGeneration`): the text
    /// model's fields under `text_config`, its tensors under `language_model.`.
    Llama4,
}

impl Family {
    const ALL: [Family; 8] = [
        Family::Mixtral,
        Family::Qwen3Moe,
        Family::Olmoe,
        Family::GptOss,
        Family::Qwen2Moe,
        Family::DeepseekV3,
        Family::Llama4Text,
        Family::Llama4,
    ];

    /// The `model_type` of its config.json.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Mixtral => "mixtral",
            Family::Qwen3Moe => "qwen3_moe",
            Family::Olmoe => "olmoe",
            Family::GptOss => "gpt_oss",
            Family::Qwen2Moe => "qwen2_moe",
            Family::DeepseekV3 => "deepseek_v3",
            Family::Llama4Text => "llama4_text",
            Family::Llama4 => "llama4",
        }
    }

    fn is_llama4(self) -> bool {
        matches!(self, Family::Llama4 | Family::Llama4Text)
    }

    fn from_model_type(t: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.model_type() == t)
    }

    /// Names of the gate, up and down projections in the per-expert layout (GPT-OSS has none:
    /// its only layout is [`Layout::Interleaved`]).
    fn projections(self) -> [&'static str; 3] {
        match self {
            Family::Mixtral => ["w1", "w3", "w2"],
            _ => ["gate_proj", "up_proj", "down_proj"],
        }
    }

    /// The router's module name in the MoE block.
    fn router(self) -> &'static str {
        if self == Family::GptOss || self.is_llama4() { "router" } else { "gate" }
    }

    /// The shared expert's module name in the MoE block (its `gate_proj` / `up_proj` /
    /// `down_proj` are `nn.Linear`s), for the families that have one.
    fn shared(self) -> Option<&'static str> {
        match self {
            Family::Qwen2Moe => Some("shared_expert"),
            Family::DeepseekV3 => Some("shared_experts"),
            Family::Llama4 | Family::Llama4Text => Some("shared_expert"),
            _ => None,
        }
    }

    /// The MoE block's tensor-name prefix of layer `layer` in `layout`.
    pub fn prefix(self, layout: Layout, layer: usize) -> String {
        match (self, layout) {
            (Family::Mixtral, Layout::PerExpert) => format!("model.layers.{layer}.block_sparse_moe."),
            (Family::Llama4Text, _) => format!("model.layers.{layer}.feed_forward."),
            (Family::Llama4, _) => format!("language_model.model.layers.{layer}.feed_forward."),
            _ => format!("model.layers.{layer}.mlp."),
        }
    }
}

/// How the experts are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One `nn.Linear` per expert and projection (every published checkpoint; transformers'
    /// default `save_pretrained`).
    PerExpert,
    /// Transformers 5's in-memory stacks `experts.gate_up_proj` [E, 2I, H] and
    /// `experts.down_proj` [E, H, I] (`save_pretrained(save_original_format=False)`).
    Fused,
    /// GPT-OSS's stacks, multiplied as `x @ W` with gate and up interleaved by column:
    /// `experts.gate_up_proj` [E, H, 2I], `experts.gate_up_proj_bias` [E, 2I],
    /// `experts.down_proj` [E, I, H], `experts.down_proj_bias` [E, H].
    Interleaved,
    /// Llama-4's stacks, multiplied as `x @ W`, gate and up side by side:
    /// `experts.gate_up_proj` [E, H, 2I] (columns 0..I the gate projection, I..2I the up
    /// projection: `bmm(x, gate_up_proj).chunk(2, dim=-1)`), `experts.down_proj` [E, I, H].
    Chunked,
}

/// Everything about one layer except its weights: the configuration read from config.json and
/// every tensor's name, shape and dtype checked from the safetensors headers (no tensor data is
/// read). [`LayerSpec::load`] then reads the weights.
#[derive(Clone, Debug)]
pub struct LayerSpec {
    pub model_type: String,
    pub family: Family,
    pub layout: Layout,
    pub layer: usize,
    pub hidden: usize,
    pub inter: usize,
    pub experts: usize,
    pub top_k: usize,
    /// `hidden_act`; GPT-OSS's clamped SwiGLU with the config's `swiglu_alpha` / `swiglu_limit`.
    pub activation: Activation,
    /// Divide the k routing weights by their sum (always for Mixtral and GPT-OSS;
    /// `norm_topk_prob` otherwise).
    pub renormalize: bool,
    /// The config's `dtype` / `torch_dtype` when it is bfloat16, float16 or float32, else the
    /// expert tensors' dtype.
    pub dtype: DType,
    /// The router: softmax top-k, DeepSeek-V3's grouped sigmoid (`n_group`, `topk_group`,
    /// `routed_scaling_factor`) or Llama-4's sigmoid scaling the expert input.
    pub router: Router,
    /// The shared expert (Qwen2-MoE, DeepSeek-V3, Llama-4).
    pub shared: Option<SharedExpert>,
    checkpoint: Checkpoint,
}

/// One layer with its weights.
#[derive(Clone, Debug)]
pub struct HfLayer {
    pub spec: LayerSpec,
    /// f32 host copies in flashmoe's layout: `gate` [E, H], `w1` / `w3` [E, I, H], `w2` [E, H, I]
    /// (GPT-OSS adds `gate_bias` `[E]`, `b1` / `b3` [E, I], `b2` [E, H]).
    pub weights: Weights,
}

impl HfLayer {
    /// Reads config.json and layer `layer`'s tensors from a Hugging Face model folder.
    pub fn open(dir: &Path, layer: usize) -> Result<HfLayer> {
        let spec = LayerSpec::read(dir, layer)?;
        let weights = spec.load()?;
        Ok(HfLayer { spec, weights })
    }

    /// The layer's configuration for `tokens` tokens per GPU.
    pub fn config(&self, tokens: usize) -> MoeConfig {
        self.spec.config(tokens)
    }
}

impl LayerSpec {
    /// Reads config.json and checks every tensor layer `layer` needs (names, shapes, dtypes)
    /// from the safetensors headers, without reading tensor data.
    pub fn read(dir: &Path, layer: usize) -> Result<LayerSpec> {
        let config_path = dir.join("config.json");
        let cfg = Config::read(&config_path)?;
        let model_type = cfg.str("model_type")?.to_string();
        let Some(family) = Family::from_model_type(&model_type) else {
            let known: Vec<&str> = Family::ALL.iter().map(|f| f.model_type()).collect();
            return Err(CheckpointError::UnknownModelType { path: config_path, model_type, known: known.join(", ") }.into());
        };
        if let Some(q) = cfg.json.get("quantization_config").filter(|q| !q.is_null()) {
            let method = q.get("quant_method").and_then(Value::as_str).map_or(String::new(), |m| format!(", quant_method `{m}`"));
            let what = format!("quantized checkpoints (quantization_config{method}) are not supported yet; load a bf16, f16 or f32 copy");
            return Err(CheckpointError::Unsupported { model_type, layer, what }.into());
        }
        // Llama-4's multimodal config holds the text model's fields under `text_config`; its
        // dtype may be either level's.
        let top_dtype = ["dtype", "torch_dtype"].iter().find_map(|f| cfg.json.get(*f).and_then(Value::as_str).map(str::to_string));
        let cfg = if family == Family::Llama4 {
            match cfg.json.get("text_config") {
                Some(t) if t.is_object() => Config { path: cfg.path.clone(), json: t.clone() },
                _ => return Err(cfg.bad("text_config", "an object (the Llama-4 text model's config)")),
            }
        } else {
            cfg
        };
        let layers = cfg.usize("num_hidden_layers")?;
        if layer >= layers {
            return Err(CheckpointError::LayerOutOfRange { path: config_path, layer, layers }.into());
        }
        let hidden = cfg.usize("hidden_size")?;
        let top_k = cfg.usize("num_experts_per_tok")?;
        // Expert counts go by either name: transformers' `attribute_map` aliases them (Mixtral
        // and Qwen3-MoE save `num_local_experts`, OLMoE saves `num_experts`; published Qwen3
        // configs say `num_experts`). A missing count is named by the family's own field.
        let (mut router, mut shared) = (Router::Softmax, None);
        let (experts, inter, renormalize) = match family {
            Family::Mixtral => (cfg.usize_any(&["num_local_experts", "num_experts"])?, cfg.usize("intermediate_size")?, true),
            Family::Qwen3Moe | Family::Qwen2Moe => {
                let experts = cfg.usize_any(&["num_experts", "num_local_experts"])?;
                let step = cfg.usize_or("decoder_sparse_step", 1)?;
                if step == 0 {
                    return Err(cfg.bad("decoder_sparse_step", "a positive integer"));
                }
                let mlp_only = cfg.usize_list_or_empty("mlp_only_layers")?;
                let why = if mlp_only.contains(&layer) {
                    Some(format!("it is in mlp_only_layers {mlp_only:?}"))
                } else if experts == 0 {
                    Some("num_experts = 0".to_string())
                } else if !(layer + 1).is_multiple_of(step) {
                    Some(format!("decoder_sparse_step = {step}: layers {step}·n - 1 are sparse"))
                } else {
                    None
                };
                if let Some(why) = why {
                    return Err(CheckpointError::DenseLayer { model_type, layer, why }.into());
                }
                if family == Family::Qwen2Moe {
                    let inter = cfg.usize("shared_expert_intermediate_size")?;
                    shared = Some(SharedExpert { inter, sigmoid_gate: true });
                }
                (experts, cfg.usize("moe_intermediate_size")?, cfg.bool_or("norm_topk_prob", false)?)
            }
            Family::DeepseekV3 => {
                // transformers 5 always runs the `noaux_tc` sigmoid router and ignores these
                // fields of the published configs; any other value is refused, not reinterpreted.
                for (field, only) in [("topk_method", "noaux_tc"), ("scoring_func", "sigmoid")] {
                    if let Some(v) = cfg.json.get(field).filter(|v| !v.is_null())
                        && v.as_str() != Some(only)
                    {
                        let what = format!("{field} = {v} is not supported (only `{only}`)");
                        return Err(CheckpointError::Unsupported { model_type, layer, what }.into());
                    }
                }
                if cfg.usize_or("moe_layer_freq", 1)? != 1 {
                    let what = "moe_layer_freq other than 1 is not supported".to_string();
                    return Err(CheckpointError::Unsupported { model_type, layer, what }.into());
                }
                let dense = cfg.usize_or("first_k_dense_replace", 3)?;
                if layer < dense {
                    let why = format!("first_k_dense_replace = {dense}: layers below it are dense");
                    return Err(CheckpointError::DenseLayer { model_type, layer, why }.into());
                }
                let experts = cfg.usize_any(&["n_routed_experts", "num_local_experts"])?;
                let inter = cfg.usize("moe_intermediate_size")?;
                let (groups, topk_groups) = (cfg.usize_or("n_group", 8)?, cfg.usize_or("topk_group", 4)?);
                let scaling = cfg.f32_or("routed_scaling_factor", 2.5)?;
                router = Router::GroupedSigmoid { groups, topk_groups, scaling };
                let n_shared = cfg.usize_or("n_shared_experts", 1)?;
                if n_shared > 0 {
                    shared = Some(SharedExpert { inter: inter * n_shared, sigmoid_gate: false });
                }
                (experts, inter, cfg.bool_or("norm_topk_prob", true)?)
            }
            Family::Llama4 | Family::Llama4Text => {
                let moe_layers = match cfg.json.get("moe_layers") {
                    Some(v) if !v.is_null() => cfg.usize_list_or_empty("moe_layers")?,
                    _ => {
                        let step = cfg.usize_or("interleave_moe_layer_step", 1)?;
                        if step == 0 {
                            return Err(cfg.bad("interleave_moe_layer_step", "a positive integer"));
                        }
                        (step - 1..layers).step_by(step).collect()
                    }
                };
                if !moe_layers.contains(&layer) {
                    let why = format!("it is not in moe_layers {moe_layers:?}");
                    return Err(CheckpointError::DenseLayer { model_type, layer, why }.into());
                }
                let inter = cfg.usize("intermediate_size")?;
                router = Router::SigmoidScaledInput;
                shared = Some(SharedExpert { inter, sigmoid_gate: false });
                (cfg.usize_any(&["num_local_experts", "num_experts"])?, inter, false)
            }
            Family::Olmoe => (
                cfg.usize_any(&["num_experts", "num_local_experts"])?,
                cfg.usize("intermediate_size")?,
                cfg.bool_or("norm_topk_prob", false)?,
            ),
            // Softmax over the top-k logits: the renormalised softmax.
            Family::GptOss => (cfg.usize_any(&["num_local_experts", "num_experts"])?, cfg.usize("intermediate_size")?, true),
        };
        let activation = if family == Family::GptOss {
            // GptOssExperts never reads hidden_act.
            let (alpha, limit) = (cfg.f32_or("swiglu_alpha", 1.702)?, cfg.f32_or("swiglu_limit", 7.0)?);
            if !limit.is_finite() || limit <= 0.0 {
                return Err(cfg.bad("swiglu_limit", "a finite number above 0"));
            }
            Activation::ClampedSwiglu { alpha, limit }
        } else {
            match cfg.str_or("hidden_act", "silu")? {
                "silu" | "swish" => Activation::Silu,
                "gelu" => Activation::Gelu,
                "relu" => Activation::Relu,
                _ => return Err(cfg.bad("hidden_act", "silu, swish, gelu (the erf form) or relu")),
            }
        };
        let named =
            ["dtype", "torch_dtype"].iter().find_map(|f| cfg.json.get(*f).and_then(Value::as_str).map(str::to_string)).or(top_dtype);
        let config_dtype = match named.as_deref() {
            Some("bfloat16") => Some(DType::Bf16),
            Some("float16") => Some(DType::F16),
            Some("float32") => Some(DType::F32),
            _ => None,
        };

        let mut checkpoint = Checkpoint::open(dir)?;
        let layout = detect_layout(&checkpoint, family, layer);
        if let Some(key) = checkpoint.mxfp4_tensor(family.prefix(layout, layer).as_str()) {
            let what = format!("MXFP4-quantized experts (`{key}`) are not supported yet; load a bf16, f16 or f32 copy");
            return Err(CheckpointError::Unsupported { model_type, layer, what }.into());
        }
        let expected = expected_tensors(family, layout, layer, experts, hidden, inter, shared);
        for (key, shape) in &expected {
            checkpoint.check(key, shape)?;
        }
        checkpoint.reject_unexpected(family, layer, &expected)?;
        let first_expert = &expected[1].0;
        let dtype = match config_dtype {
            Some(d) => d,
            None => match checkpoint.dtype(first_expert)? {
                Dtype::BF16 => DType::Bf16,
                Dtype::F16 => DType::F16,
                _ => DType::F32,
            },
        };
        Ok(LayerSpec {
            model_type,
            family,
            layout,
            layer,
            hidden,
            inter,
            experts,
            top_k,
            activation,
            renormalize,
            dtype,
            router,
            shared,
            checkpoint,
        })
    }

    /// The layer's configuration for `tokens` tokens per GPU: gated experts, biases (expert and
    /// router) only for GPT-OSS, and no capacity limit (Hugging Face drops no token).
    pub fn config(&self, tokens: usize) -> MoeConfig {
        let biased = self.family == Family::GptOss;
        MoeConfig {
            tokens,
            hidden: self.hidden,
            inter: self.inter,
            experts: self.experts,
            top_k: self.top_k,
            capacity_factor: None,
            activation: self.activation,
            gated: true,
            bias: biased,
            router_bias: biased,
            renormalize: self.renormalize,
            dtype: self.dtype,
            router: self.router,
            shared: self.shared,
        }
    }

    /// The folder the layer comes from.
    pub fn dir(&self) -> &Path {
        &self.checkpoint.dir
    }

    /// Reads the layer's weights (converted to f32, in flashmoe's orientation).
    pub fn load(&self) -> Result<Weights> {
        let mut w = match self.layout {
            Layout::Interleaved => return self.load_interleaved(),
            Layout::Chunked => self.load_chunked()?,
            Layout::PerExpert | Layout::Fused => self.load_linear()?,
        };
        let p = self.family.prefix(self.layout, self.layer);
        let read = |name: &str, len: usize| -> Result<Vec<f32>> {
            let mut v = vec![0.0; len];
            self.checkpoint.read_into(&format!("{p}{name}"), 0, &mut v)?;
            Ok(v)
        };
        if matches!(self.router, Router::GroupedSigmoid { .. }) {
            w.score_bias = Some(read("gate.e_score_correction_bias", self.experts)?);
        }
        if let (Some(s), Some(m)) = (self.shared, self.family.shared()) {
            let (h, si) = (self.hidden, s.inter);
            w.shared_w1 = Some(read(&format!("{m}.gate_proj.weight"), si * h)?);
            w.shared_w3 = Some(read(&format!("{m}.up_proj.weight"), si * h)?);
            w.shared_w2 = Some(read(&format!("{m}.down_proj.weight"), h * si)?);
            if s.sigmoid_gate {
                w.shared_gate = Some(read(&format!("{m}_gate.weight"), h)?);
            }
        }
        w.validate(&self.config(1))?;
        Ok(w)
    }

    /// The router and the experts of the `nn.Linear`-oriented layouts (per-expert or fused).
    fn load_linear(&self) -> Result<Weights> {
        let (e, h, i) = (self.experts, self.hidden, self.inter);
        let [g, u, d] = self.family.projections();
        let p = self.family.prefix(self.layout, self.layer);
        let mut gate = vec![0.0; e * h];
        self.checkpoint.read_into(&format!("{p}gate.weight"), 0, &mut gate)?;
        let (mut w1, mut w3, mut w2) = (vec![0.0; e * i * h], vec![0.0; e * i * h], vec![0.0; e * h * i]);
        let (ih, hi) = (i * h, h * i);
        for x in 0..e {
            let (w1e, w3e, w2e) = (&mut w1[x * ih..(x + 1) * ih], &mut w3[x * ih..(x + 1) * ih], &mut w2[x * hi..(x + 1) * hi]);
            match self.layout {
                Layout::PerExpert => {
                    self.checkpoint.read_into(&format!("{p}experts.{x}.{g}.weight"), 0, w1e)?;
                    self.checkpoint.read_into(&format!("{p}experts.{x}.{u}.weight"), 0, w3e)?;
                    self.checkpoint.read_into(&format!("{p}experts.{x}.{d}.weight"), 0, w2e)?;
                }
                // (Interleaved and Chunked have loaders of their own.)
                Layout::Fused | Layout::Interleaved | Layout::Chunked => {
                    let gate_up = format!("{p}experts.gate_up_proj");
                    self.checkpoint.read_into(&gate_up, 2 * x * ih, w1e)?;
                    self.checkpoint.read_into(&gate_up, 2 * x * ih + ih, w3e)?;
                    self.checkpoint.read_into(&format!("{p}experts.down_proj"), x * hi, w2e)?;
                }
            }
        }
        Ok(Weights { gate, w1, w3: Some(w3), w2, ..Weights::default() })
    }

    /// Llama-4: each expert's [H, 2I] block of `gate_up_proj` split by columns (0..I the gate,
    /// I..2I the up projection) and transposed into W1 / W3 [I, H]; its [I, H] `down_proj`
    /// transposed into W2 [H, I].
    fn load_chunked(&self) -> Result<Weights> {
        let (e, h, i) = (self.experts, self.hidden, self.inter);
        let p = self.family.prefix(self.layout, self.layer);
        let mut gate = vec![0.0; e * h];
        self.checkpoint.read_into(&format!("{p}router.weight"), 0, &mut gate)?;
        let (mut w1, mut w3, mut w2) = (vec![0.0; e * i * h], vec![0.0; e * i * h], vec![0.0; e * h * i]);
        let (ih, hi) = (i * h, h * i);
        let (mut block, mut down) = (vec![0.0; 2 * ih], vec![0.0; hi]);
        for x in 0..e {
            self.checkpoint.read_into(&format!("{p}experts.gate_up_proj"), x * 2 * ih, &mut block)?;
            transpose_into(&block, h, i, 2 * i, 1, &mut w1[x * ih..(x + 1) * ih]);
            transpose_into(&block[i..], h, i, 2 * i, 1, &mut w3[x * ih..(x + 1) * ih]);
            self.checkpoint.read_into(&format!("{p}experts.down_proj"), x * hi, &mut down)?;
            transpose_into(&down, i, h, h, 1, &mut w2[x * hi..(x + 1) * hi]);
        }
        Ok(Weights { gate, w1, w3: Some(w3), w2, ..Weights::default() })
    }

    /// GPT-OSS: each expert's [H, 2I] block of `gate_up_proj` de-interleaved (even columns the
    /// gate, odd the up projection) and transposed into W1 / W3 [I, H]; its [I, H] `down_proj`
    /// transposed into W2 [H, I]; the biases de-interleaved the same way.
    fn load_interleaved(&self) -> Result<Weights> {
        let (e, h, i) = (self.experts, self.hidden, self.inter);
        let p = self.family.prefix(self.layout, self.layer);
        let read = |name: &str, len: usize| -> Result<Vec<f32>> {
            let mut v = vec![0.0; len];
            self.checkpoint.read_into(&format!("{p}{name}"), 0, &mut v)?;
            Ok(v)
        };
        let gate = read("router.weight", e * h)?;
        let gate_bias = read("router.bias", e)?;
        let gate_up_bias = read("experts.gate_up_proj_bias", e * 2 * i)?;
        let b2 = read("experts.down_proj_bias", e * h)?;
        let (mut w1, mut w3, mut w2) = (vec![0.0; e * i * h], vec![0.0; e * i * h], vec![0.0; e * h * i]);
        let (ih, hi) = (i * h, h * i);
        let (mut block, mut down) = (vec![0.0; 2 * ih], vec![0.0; hi]);
        for x in 0..e {
            self.checkpoint.read_into(&format!("{p}experts.gate_up_proj"), x * 2 * ih, &mut block)?;
            transpose_into(&block, h, i, 2 * i, 2, &mut w1[x * ih..(x + 1) * ih]);
            transpose_into(&block[1..], h, i, 2 * i, 2, &mut w3[x * ih..(x + 1) * ih]);
            self.checkpoint.read_into(&format!("{p}experts.down_proj"), x * hi, &mut down)?;
            transpose_into(&down, i, h, h, 1, &mut w2[x * hi..(x + 1) * hi]);
        }
        let (b1, b3) = deinterleave(&gate_up_bias);
        let w = Weights {
            gate,
            gate_bias: Some(gate_bias),
            w1,
            w3: Some(w3),
            w2,
            b1: Some(b1),
            b3: Some(b3),
            b2: Some(b2),
            ..Weights::default()
        };
        w.validate(&self.config(1))?;
        Ok(w)
    }
}

/// `dst[c · rows + r] = src[r · row_stride + c · step]` for r < rows, c < cols: the transpose of a
/// row-major block whose columns are `step` apart (2 picks every other column of GPT-OSS's
/// interleaved gate_up_proj), in 64 x 64 tiles, 64 output rows per task.
fn transpose_into(src: &[f32], rows: usize, cols: usize, row_stride: usize, step: usize, dst: &mut [f32]) {
    use rayon::prelude::*;
    const TILE: usize = 64;
    dst[..rows * cols].par_chunks_mut(TILE * rows).enumerate().for_each(|(n, out)| {
        let c0 = n * TILE;
        let c1 = (c0 + TILE).min(cols);
        for r0 in (0..rows).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                let row = &src[r * row_stride..];
                for c in c0..c1 {
                    out[(c - c0) * rows + r] = row[c * step];
                }
            }
        }
    });
}

/// Even and odd elements of `v` (GPT-OSS's interleaved gate / up biases).
fn deinterleave(v: &[f32]) -> (Vec<f32>, Vec<f32>) {
    (v.iter().step_by(2).copied().collect(), v.iter().skip(1).step_by(2).copied().collect())
}

/// Per-expert when expert 0's gate projection is there, fused when the stack is, else per-expert
/// (so the missing-tensor error names the per-expert key).
fn detect_layout(c: &Checkpoint, family: Family, layer: usize) -> Layout {
    if family == Family::GptOss {
        return Layout::Interleaved;
    }
    if family.is_llama4() {
        return Layout::Chunked;
    }
    let per_expert = format!("{}experts.0.{}.weight", family.prefix(Layout::PerExpert, layer), family.projections()[0]);
    let fused = format!("{}experts.gate_up_proj", family.prefix(Layout::Fused, layer));
    if !c.weight_map.contains_key(&per_expert) && c.weight_map.contains_key(&fused) { Layout::Fused } else { Layout::PerExpert }
}

/// Every tensor of the layer with its shape: the router first, then the experts.
fn expected_tensors(
    family: Family,
    layout: Layout,
    layer: usize,
    e: usize,
    h: usize,
    i: usize,
    shared: Option<SharedExpert>,
) -> Vec<(String, Vec<usize>)> {
    let p = family.prefix(layout, layer);
    let mut v = vec![(format!("{p}{}.weight", family.router()), vec![e, h])];
    match layout {
        Layout::PerExpert => {
            let [g, u, d] = family.projections();
            for x in 0..e {
                v.push((format!("{p}experts.{x}.{g}.weight"), vec![i, h]));
                v.push((format!("{p}experts.{x}.{u}.weight"), vec![i, h]));
                v.push((format!("{p}experts.{x}.{d}.weight"), vec![h, i]));
            }
        }
        Layout::Fused => {
            v.push((format!("{p}experts.gate_up_proj"), vec![e, 2 * i, h]));
            v.push((format!("{p}experts.down_proj"), vec![e, h, i]));
        }
        Layout::Interleaved => {
            v.push((format!("{p}experts.gate_up_proj"), vec![e, h, 2 * i]));
            v.push((format!("{p}experts.down_proj"), vec![e, i, h]));
            v.push((format!("{p}router.bias"), vec![e]));
            v.push((format!("{p}experts.gate_up_proj_bias"), vec![e, 2 * i]));
            v.push((format!("{p}experts.down_proj_bias"), vec![e, h]));
        }
        Layout::Chunked => {
            v.push((format!("{p}experts.gate_up_proj"), vec![e, h, 2 * i]));
            v.push((format!("{p}experts.down_proj"), vec![e, i, h]));
        }
    }
    if family == Family::DeepseekV3 {
        v.push((format!("{p}gate.e_score_correction_bias"), vec![e]));
    }
    if let (Some(s), Some(m)) = (shared, family.shared()) {
        v.push((format!("{p}{m}.gate_proj.weight"), vec![s.inter, h]));
        v.push((format!("{p}{m}.up_proj.weight"), vec![s.inter, h]));
        v.push((format!("{p}{m}.down_proj.weight"), vec![h, s.inter]));
        if s.sigmoid_gate {
            v.push((format!("{p}{m}_gate.weight"), vec![1, h]));
        }
    }
    v
}

/// config.json, with typed errors naming the field.
struct Config {
    path: PathBuf,
    json: Value,
}

impl Config {
    fn read(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CheckpointError::MissingFile { path: path.into() }.into()),
            Err(e) => return Err(e.into()),
        };
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| CheckpointError::Malformed { path: path.into(), what: format!("not valid JSON: {e}") })?;
        if !json.is_object() {
            return Err(CheckpointError::Malformed { path: path.into(), what: "not a JSON object".into() }.into());
        }
        Ok(Config { path: path.into(), json })
    }

    fn bad(&self, field: &str, expected: &str) -> crate::Error {
        let value = self.json.get(field).map_or_else(|| "null".to_string(), Value::to_string);
        CheckpointError::BadField { path: self.path.clone(), field: field.into(), value, expected: expected.into() }.into()
    }

    fn field(&self, field: &str) -> Result<&Value> {
        match self.json.get(field) {
            Some(v) if !v.is_null() => Ok(v),
            _ => Err(CheckpointError::MissingField { path: self.path.clone(), field: field.into() }.into()),
        }
    }

    fn usize(&self, field: &str) -> Result<usize> {
        self.field(field)?.as_u64().and_then(|v| usize::try_from(v).ok()).ok_or_else(|| self.bad(field, "a non-negative integer"))
    }

    /// The first of `fields` present (aliases of one setting); a missing one is named by the first.
    fn usize_any(&self, fields: &[&str]) -> Result<usize> {
        match fields.iter().find(|f| self.json.get(**f).is_some_and(|v| !v.is_null())) {
            Some(f) => self.usize(f),
            None => self.usize(fields[0]),
        }
    }

    fn usize_or(&self, field: &str, default: usize) -> Result<usize> {
        if self.json.get(field).is_none_or(Value::is_null) { Ok(default) } else { self.usize(field) }
    }

    /// A number (JSON integer or float) as f32, `default` when absent.
    fn f32_or(&self, field: &str, default: f32) -> Result<f32> {
        match self.json.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v.as_f64().map(|v| v as f32).ok_or_else(|| self.bad(field, "a number")),
        }
    }

    fn bool_or(&self, field: &str, default: bool) -> Result<bool> {
        match self.json.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.bad(field, "true or false")),
        }
    }

    fn str(&self, field: &str) -> Result<&str> {
        self.field(field)?.as_str().ok_or_else(|| self.bad(field, "a string"))
    }

    fn str_or<'a>(&'a self, field: &str, default: &'a str) -> Result<&'a str> {
        if self.json.get(field).is_none_or(Value::is_null) { Ok(default) } else { self.str(field) }
    }

    fn usize_list_or_empty(&self, field: &str) -> Result<Vec<usize>> {
        match self.json.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => {
                a.iter().map(|v| v.as_u64().map(|v| v as usize).ok_or_else(|| self.bad(field, "a list of layer indices"))).collect()
            }
            Some(_) => Err(self.bad(field, "a list of layer indices")),
        }
    }
}

/// One shard's parsed header.
#[derive(Clone, Debug)]
struct Shard {
    path: PathBuf,
    /// File offset of the data section (8 + header length).
    data_start: u64,
    meta: Metadata,
}

/// The safetensors files of a folder: which file holds each tensor, and the headers read so far.
#[derive(Clone, Debug)]
struct Checkpoint {
    dir: PathBuf,
    /// Tensor name → shard file name.
    weight_map: HashMap<String, String>,
    /// Shard file name → header, read on first use.
    shards: HashMap<String, Shard>,
}

/// The largest header the safetensors format allows.
const MAX_HEADER: u64 = 100_000_000;

impl Checkpoint {
    fn open(dir: &Path) -> Result<Checkpoint> {
        let index = dir.join("model.safetensors.index.json");
        let single = dir.join("model.safetensors");
        let mut c = Checkpoint { dir: dir.into(), weight_map: HashMap::new(), shards: HashMap::new() };
        if index.is_file() {
            let malformed = |what: String| CheckpointError::Malformed { path: index.clone(), what };
            let json: Value =
                serde_json::from_str(&std::fs::read_to_string(&index)?).map_err(|e| malformed(format!("not valid JSON: {e}")))?;
            let map = json.get("weight_map").and_then(Value::as_object).ok_or_else(|| malformed("no `weight_map` object".into()))?;
            for (name, file) in map {
                let file = file.as_str().ok_or_else(|| malformed(format!("`{name}` maps to {file}, not a file name")))?;
                // Shards are files of this folder: no paths out of it.
                if file.is_empty() || file.contains(['/', '\\']) || file == ".." {
                    return Err(malformed(format!("`{name}` maps to `{file}`, not a file of this folder")).into());
                }
                c.weight_map.insert(name.clone(), file.to_string());
            }
        } else if single.is_file() {
            let shard = read_header(&single)?;
            c.weight_map = shard.meta.tensors().into_keys().map(|k| (k, "model.safetensors".to_string())).collect();
            c.shards.insert("model.safetensors".into(), shard);
        } else {
            return Err(CheckpointError::NoWeights { dir: dir.into() }.into());
        }
        Ok(c)
    }

    /// The header of the shard holding `key`, read once.
    fn shard(&mut self, key: &str) -> Result<&Shard> {
        let Some(file) = self.weight_map.get(key) else {
            return Err(CheckpointError::MissingTensor { path: self.dir.clone(), key: key.into() }.into());
        };
        if !self.shards.contains_key(file) {
            let shard = read_header(&self.dir.join(file))?;
            self.shards.insert(file.clone(), shard);
        }
        Ok(&self.shards[file])
    }

    /// Checks that `key` exists with `shape` and a dtype flashmoe reads.
    fn check(&mut self, key: &str, shape: &[usize]) -> Result<()> {
        let shard = self.shard(key)?;
        let path = shard.path.clone();
        let Some(info) = shard.meta.info(key) else {
            let what = format!("tensor `{key}` is listed in model.safetensors.index.json but not in this file");
            return Err(CheckpointError::Malformed { path, what }.into());
        };
        if element_bytes(info.dtype).is_none() {
            return Err(CheckpointError::UnsupportedDtype { path, key: key.into(), dtype: format!("{:?}", info.dtype) }.into());
        }
        if info.shape != shape {
            return Err(CheckpointError::WrongShape { path, key: key.into(), got: info.shape.clone(), expected: shape.to_vec() }.into());
        }
        Ok(())
    }

    /// A tensor of MXFP4-packed experts (`…_blocks` / `…_scales`, as GPT-OSS's published
    /// checkpoints store them) under `prefix`, if any.
    fn mxfp4_tensor(&self, prefix: &str) -> Option<String> {
        let mut keys: Vec<&String> = self
            .weight_map
            .keys()
            .filter(|k| {
                k.strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with("experts.") && (k.ends_with("_blocks") || k.ends_with("_scales")))
            })
            .collect();
        keys.sort();
        keys.first().map(|k| (*k).clone())
    }

    /// The dtype of a tensor already [`check`](Self::check)ed.
    fn dtype(&mut self, key: &str) -> Result<Dtype> {
        let shard = self.shard(key)?;
        Ok(shard.meta.info(key).map_or(Dtype::F32, |i| i.dtype))
    }

    /// Rejects tensors of the layer's MoE block (under either layout's prefix) that the layer does
    /// not use: a feature flashmoe would silently drop (a shared expert, a router bias) or a config
    /// that does not match the weights (more experts than `num_experts`).
    fn reject_unexpected(&self, family: Family, layer: usize, expected: &[(String, Vec<usize>)]) -> Result<()> {
        let prefixes = [family.prefix(Layout::PerExpert, layer), family.prefix(Layout::Fused, layer)];
        let mut extra: Vec<&String> = self
            .weight_map
            .keys()
            .filter(|k| prefixes.iter().any(|p| k.starts_with(p.as_str())) && !expected.iter().any(|(e, _)| e == *k))
            .collect();
        extra.sort();
        match extra.first() {
            Some(key) => Err(CheckpointError::UnexpectedTensor {
                path: self.dir.join(&self.weight_map[*key]),
                key: (*key).clone(),
                model_type: family.model_type().into(),
            }
            .into()),
            None => Ok(()),
        }
    }

    /// Decodes `out.len()` elements of `key`, starting at element `offset`, into `out`.
    fn read_into(&self, key: &str, offset: usize, out: &mut [f32]) -> Result<()> {
        let missing = || CheckpointError::MissingTensor { path: self.dir.clone(), key: key.into() };
        let shard = self.weight_map.get(key).and_then(|f| self.shards.get(f)).ok_or_else(missing)?;
        let info = shard.meta.info(key).ok_or_else(missing)?;
        let size = element_bytes(info.dtype).ok_or_else(|| CheckpointError::UnsupportedDtype {
            path: shard.path.clone(),
            key: key.into(),
            dtype: format!("{:?}", info.dtype),
        })?;
        let (begin, end) = info.data_offsets;
        let (start, len) = (begin + offset * size, out.len() * size);
        if start + len > end {
            let what = format!("tensor `{key}`: elements {offset}..{} lie outside its {} bytes", offset + out.len(), end - begin);
            return Err(CheckpointError::Malformed { path: shard.path.clone(), what }.into());
        }
        let mut bytes = vec![0u8; len];
        let mut f = File::open(&shard.path)?;
        f.seek(SeekFrom::Start(shard.data_start + start as u64))?;
        f.read_exact(&mut bytes)?;
        decode_into(info.dtype, &bytes, out);
        Ok(())
    }
}

/// Reads and validates one safetensors header (offsets contiguous, sizes matching shapes and
/// dtypes, the data section inside the file).
fn read_header(path: &Path) -> Result<Shard> {
    let malformed = |what: String| CheckpointError::Malformed { path: path.into(), what };
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CheckpointError::MissingFile { path: path.into() }.into()),
        Err(e) => return Err(e.into()),
    };
    let file_len = f.metadata()?.len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n).map_err(|_| malformed("shorter than a safetensors header".into()))?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER || 8 + n > file_len {
        return Err(malformed(format!("header length {n} does not fit the {file_len}-byte file")).into());
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)?;
    let meta: Metadata = serde_json::from_slice(&header).map_err(|e| malformed(format!("bad safetensors header: {e}")))?;
    let data_end = 8 + n + meta.data_len() as u64;
    if data_end > file_len {
        return Err(malformed(format!("the header describes {data_end} bytes but the file has {file_len}")).into());
    }
    Ok(Shard { path: path.into(), data_start: 8 + n, meta })
}

/// Synthetic Hugging Face folders for tests and examples (the `testing` feature): a config.json
/// of a family and its layer tensors under the family's names, in one file or in shards with
/// an index.
#[cfg(feature = "testing")]
pub mod synthetic {
    use std::collections::BTreeMap;
    use std::path::Path;

    use safetensors::tensor::{Dtype, TensorView};
    use serde_json::json;

    use super::{Family, Layout};
    use crate::config::{Activation, DType, MoeConfig, Router};
    use crate::error::{Error, Result};
    use crate::numeric;
    use crate::weights::Weights;

    /// One tensor to write: f32 values stored in `dtype`.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Tensor {
        pub name: String,
        pub shape: Vec<usize>,
        pub dtype: DType,
        pub data: Vec<f32>,
    }

    /// A minimal config.json of `family` for `cfg` (`cfg.renormalize` becomes `norm_topk_prob`;
    /// Mixtral and GPT-OSS always renormalise; GPT-OSS takes `swiglu_alpha` / `swiglu_limit` from
    /// a clamped SwiGLU activation; DeepSeek-V3 its router's groups and scaling and a shared
    /// expert of `cfg.shared`'s width as `n_shared_experts` = 1 (`cfg.shared.inter` must then
    /// be `cfg.inter`); Qwen2-MoE its shared expert's width) with `layers` decoder layers, all
    /// sparse.
    pub fn config_json(family: Family, cfg: &MoeConfig, layers: usize) -> String {
        let act = match cfg.activation {
            Activation::Silu | Activation::ClampedSwiglu { .. } => "silu",
            Activation::Gelu => "gelu",
            Activation::Relu => "relu",
        };
        let dtype = match cfg.dtype {
            DType::Bf16 => "bfloat16",
            DType::F16 => "float16",
            DType::F32 => "float32",
        };
        let mut v = json!({
            "model_type": family.model_type(),
            "hidden_size": cfg.hidden,
            "num_hidden_layers": layers,
            "num_experts_per_tok": cfg.top_k,
            "hidden_act": act,
            "dtype": dtype,
        });
        let extra = match family {
            Family::Mixtral => json!({ "num_local_experts": cfg.experts, "intermediate_size": cfg.inter }),
            Family::Qwen3Moe => json!({
                "num_experts": cfg.experts, "moe_intermediate_size": cfg.inter, "intermediate_size": 4 * cfg.inter,
                "norm_topk_prob": cfg.renormalize, "decoder_sparse_step": 1, "mlp_only_layers": [],
            }),
            Family::Olmoe => json!({ "num_experts": cfg.experts, "intermediate_size": cfg.inter, "norm_topk_prob": cfg.renormalize }),
            Family::GptOss => {
                let (alpha, limit) = match cfg.activation {
                    Activation::ClampedSwiglu { alpha, limit } => (alpha, limit),
                    _ => (1.702, 7.0),
                };
                json!({ "num_local_experts": cfg.experts, "intermediate_size": cfg.inter, "swiglu_alpha": alpha, "swiglu_limit": limit })
            }
            Family::Qwen2Moe => json!({
                "num_experts": cfg.experts, "moe_intermediate_size": cfg.inter, "intermediate_size": 4 * cfg.inter,
                "shared_expert_intermediate_size": cfg.shared.map_or(cfg.inter, |s| s.inter),
                "norm_topk_prob": cfg.renormalize, "decoder_sparse_step": 1, "mlp_only_layers": [],
            }),
            Family::DeepseekV3 => {
                let (groups, topk_groups, scaling) = match cfg.router {
                    Router::GroupedSigmoid { groups, topk_groups, scaling } => (groups, topk_groups, scaling),
                    _ => (1, 1, 1.0),
                };
                json!({
                    "n_routed_experts": cfg.experts, "moe_intermediate_size": cfg.inter, "intermediate_size": 4 * cfg.inter,
                    "n_shared_experts": usize::from(cfg.shared.is_some()), "n_group": groups, "topk_group": topk_groups,
                    "routed_scaling_factor": scaling, "norm_topk_prob": cfg.renormalize, "first_k_dense_replace": 0,
                    "topk_method": "noaux_tc", "scoring_func": "sigmoid",
                })
            }
            Family::Llama4Text => json!({
                "num_local_experts": cfg.experts, "intermediate_size": cfg.inter, "intermediate_size_mlp": 4 * cfg.inter,
                "interleave_moe_layer_step": 1,
            }),
            Family::Llama4 => {
                let mut text = v.clone();
                text["model_type"] = json!("llama4_text");
                text["num_local_experts"] = json!(cfg.experts);
                text["intermediate_size"] = json!(cfg.inter);
                text["intermediate_size_mlp"] = json!(4 * cfg.inter);
                text["interleave_moe_layer_step"] = json!(1);
                json!({ "text_config": text })
            }
        };
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    /// Layer `layer`'s tensors for weights `w` (gated; biases only for GPT-OSS, whose layout is
    /// always [`Layout::Interleaved`]) under `family`'s names.
    pub fn layer_tensors(family: Family, layout: Layout, layer: usize, cfg: &MoeConfig, w: &Weights) -> Vec<Tensor> {
        let (e, h, i, dtype) = (cfg.experts, cfg.hidden, cfg.inter, cfg.dtype);
        let p = family.prefix(layout, layer);
        let t = |name: String, shape: Vec<usize>, data: Vec<f32>| Tensor { name, shape, dtype, data };
        if family == Family::GptOss {
            return gpt_oss_tensors(&p, cfg, w);
        }
        let w3 = w.w3.clone().unwrap_or_default();
        let mut v = vec![t(format!("{p}{}.weight", family.router()), vec![e, h], w.gate.clone())];
        match layout {
            Layout::PerExpert => {
                let [g, u, d] = family.projections();
                for x in 0..e {
                    v.push(t(format!("{p}experts.{x}.{g}.weight"), vec![i, h], w.w1[x * i * h..(x + 1) * i * h].to_vec()));
                    v.push(t(format!("{p}experts.{x}.{u}.weight"), vec![i, h], w3[x * i * h..(x + 1) * i * h].to_vec()));
                    v.push(t(format!("{p}experts.{x}.{d}.weight"), vec![h, i], w.w2[x * h * i..(x + 1) * h * i].to_vec()));
                }
            }
            Layout::Fused => {
                let gate_up = (0..e).flat_map(|x| w.w1[x * i * h..(x + 1) * i * h].iter().chain(&w3[x * i * h..(x + 1) * i * h])).copied();
                v.push(t(format!("{p}experts.gate_up_proj"), vec![e, 2 * i, h], gate_up.collect()));
                v.push(t(format!("{p}experts.down_proj"), vec![e, h, i], w.w2.clone()));
            }
            Layout::Chunked => {
                // gate_up_proj[x][r][c] = W1[x][c][r] for c < I, W3[x][c - I][r] above;
                // down_proj[x][c][r] = W2[x][r][c].
                let mut gate_up = vec![0.0; e * h * 2 * i];
                let mut down = vec![0.0; e * i * h];
                for x in 0..e {
                    for c in 0..i {
                        for r in 0..h {
                            let from = (x * i + c) * h + r;
                            gate_up[(x * h + r) * 2 * i + c] = w.w1[from];
                            gate_up[(x * h + r) * 2 * i + i + c] = w3[from];
                            down[(x * i + c) * h + r] = w.w2[(x * h + r) * i + c];
                        }
                    }
                }
                v.push(t(format!("{p}experts.gate_up_proj"), vec![e, h, 2 * i], gate_up));
                v.push(t(format!("{p}experts.down_proj"), vec![e, i, h], down));
            }
            Layout::Interleaved => {}
        }
        if let Some(b) = &w.score_bias {
            v.push(Tensor { name: format!("{p}gate.e_score_correction_bias"), shape: vec![e], dtype: DType::F32, data: b.clone() });
        }
        if let (Some(s), Some(m)) = (cfg.shared, family.shared()) {
            let si = s.inter;
            let or_zeros = |b: &Option<Vec<f32>>, n: usize| b.clone().unwrap_or_else(|| vec![0.0; n]);
            v.push(t(format!("{p}{m}.gate_proj.weight"), vec![si, h], or_zeros(&w.shared_w1, si * h)));
            v.push(t(format!("{p}{m}.up_proj.weight"), vec![si, h], or_zeros(&w.shared_w3, si * h)));
            v.push(t(format!("{p}{m}.down_proj.weight"), vec![h, si], or_zeros(&w.shared_w2, h * si)));
            if s.sigmoid_gate {
                v.push(t(format!("{p}{m}_gate.weight"), vec![1, h], or_zeros(&w.shared_gate, h)));
            }
        }
        v
    }

    /// GPT-OSS's six tensors from flashmoe's weights: `gate_up_proj[e][h][2i] = W1[e][i][h]`,
    /// `[2i + 1] = W3[e][i][h]`, `down_proj[e][i][h] = W2[e][h][i]`, biases interleaved alike
    /// (absent biases written as zeros).
    fn gpt_oss_tensors(p: &str, cfg: &MoeConfig, w: &Weights) -> Vec<Tensor> {
        let (e, h, i, dtype) = (cfg.experts, cfg.hidden, cfg.inter, cfg.dtype);
        let t = |name: String, shape: Vec<usize>, data: Vec<f32>| Tensor { name, shape, dtype, data };
        let or_zeros = |b: &Option<Vec<f32>>, n: usize| b.clone().unwrap_or_else(|| vec![0.0; n]);
        let (w3, b1, b3) = (or_zeros(&w.w3, e * i * h), or_zeros(&w.b1, e * i), or_zeros(&w.b3, e * i));
        let mut gate_up = vec![0.0; e * h * 2 * i];
        let mut down = vec![0.0; e * i * h];
        for x in 0..e {
            for c in 0..i {
                for r in 0..h {
                    let from = (x * i + c) * h + r;
                    gate_up[(x * h + r) * 2 * i + 2 * c] = w.w1[from];
                    gate_up[(x * h + r) * 2 * i + 2 * c + 1] = w3[from];
                    down[(x * i + c) * h + r] = w.w2[(x * h + r) * i + c];
                }
            }
        }
        let gate_up_bias = b1.iter().zip(&b3).flat_map(|(g, u)| [*g, *u]).collect();
        vec![
            t(format!("{p}router.weight"), vec![e, h], w.gate.clone()),
            t(format!("{p}router.bias"), vec![e], or_zeros(&w.gate_bias, e)),
            t(format!("{p}experts.gate_up_proj"), vec![e, h, 2 * i], gate_up),
            t(format!("{p}experts.gate_up_proj_bias"), vec![e, 2 * i], gate_up_bias),
            t(format!("{p}experts.down_proj"), vec![e, i, h], down),
            t(format!("{p}experts.down_proj_bias"), vec![e, h], or_zeros(&w.b2, e * h)),
        ]
    }

    /// Writes `config_json` and `tensors` into `dir`: `model.safetensors` when `shards` is 1,
    /// else `model-0000s-of-0000n.safetensors` files (tensors split in order) with a
    /// `model.safetensors.index.json`.
    pub fn write(dir: &Path, config_json: &str, tensors: &[Tensor], shards: usize) -> Result<()> {
        let raw: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
            .iter()
            .map(|t| {
                let dtype = match t.dtype {
                    DType::Bf16 => Dtype::BF16,
                    DType::F16 => Dtype::F16,
                    DType::F32 => Dtype::F32,
                };
                (t.name.clone(), dtype, t.shape.clone(), numeric::encode_f32(t.dtype, &t.data))
            })
            .collect();
        write_raw(dir, config_json, &raw, shards)
    }

    /// [`write`] with tensors already encoded, in any safetensors dtype.
    pub(crate) fn write_raw(dir: &Path, config_json: &str, tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)], shards: usize) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("config.json"), config_json)?;
        let shards = shards.clamp(1, tensors.len().max(1));
        let per = tensors.len().div_ceil(shards).max(1);
        let mut weight_map = BTreeMap::new();
        for (s, chunk) in tensors.chunks(per).enumerate() {
            let file = if shards == 1 { "model.safetensors".to_string() } else { format!("model-{:05}-of-{shards:05}.safetensors", s + 1) };
            let mut views = Vec::new();
            for (name, dtype, shape, bytes) in chunk {
                views.push((name.as_str(), TensorView::new(*dtype, shape.clone(), bytes).map_err(|e| Error::Weights(e.to_string()))?));
                weight_map.insert(name.clone(), file.clone());
            }
            safetensors::serialize_to_file(views, None, &dir.join(&file)).map_err(|e| Error::Weights(e.to_string()))?;
        }
        if shards > 1 {
            let index = json!({ "metadata": { "total_size": 0 }, "weight_map": weight_map });
            std::fs::write(dir.join("model.safetensors.index.json"), serde_json::to_string_pretty(&index).unwrap_or_default())?;
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use serde_json::json;

    use super::synthetic::{self, Tensor};
    use super::*;
    use crate::error::Error;

    const E: usize = 4;
    const H: usize = 64;
    const I: usize = 128;

    /// A fresh, empty folder for one test.
    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("flashmoe-hf-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// Distinct values, exact in bf16 (|k|/256 with |k| < 128), per tensor kind `t`.
    fn v(t: usize, e: usize, a: usize, b: usize) -> f32 {
        ((t * 131 + e * 31 + a * 7 + b * 3) % 255) as f32 / 256.0 - 127.0 / 256.0
    }
    // Hugging Face's own orientation: nn.Linear weights are [out, in].
    fn gate_v(l: usize, e: usize, h: usize) -> f32 {
        v(1 + 10 * l, e, 0, h)
    }
    fn gate_proj_v(l: usize, e: usize, i: usize, h: usize) -> f32 {
        v(2 + 10 * l, e, i, h)
    }
    fn up_proj_v(l: usize, e: usize, i: usize, h: usize) -> f32 {
        v(3 + 10 * l, e, i, h)
    }
    fn down_proj_v(l: usize, e: usize, h: usize, i: usize) -> f32 {
        v(4 + 10 * l, e, h, i)
    }
    // GPT-OSS's biases: router [E], gate and up projections [E, I], down projection [E, H].
    fn router_bias_v(l: usize, e: usize) -> f32 {
        v(5 + 10 * l, e, 0, 0)
    }
    fn gate_bias_v(l: usize, e: usize, i: usize) -> f32 {
        v(6 + 10 * l, e, i, 0)
    }
    fn up_bias_v(l: usize, e: usize, i: usize) -> f32 {
        v(7 + 10 * l, e, i, 0)
    }
    fn down_bias_v(l: usize, e: usize, h: usize) -> f32 {
        v(8 + 10 * l, e, h, 0)
    }

    /// A bf16 tensor of any rank whose element at multi-index `ix` (row-major) is `f(ix)`.
    fn tensor(name: String, shape: Vec<usize>, f: impl Fn(&[usize]) -> f32) -> Tensor {
        let n: usize = shape.iter().product();
        let mut ix = vec![0; shape.len()];
        let data = (0..n)
            .map(|flat| {
                let mut rest = flat;
                for (d, len) in shape.iter().enumerate().rev() {
                    ix[d] = rest % len;
                    rest /= len;
                }
                f(&ix)
            })
            .collect();
        Tensor { name, shape, dtype: DType::Bf16, data }
    }

    /// Tensors of layers 0 and 1, written from the names and shapes transformers uses (not from
    /// this module's tables).
    fn hf_tensors(family: &str, fused: bool) -> Vec<Tensor> {
        if family == "gpt_oss" {
            return gpt_oss_tensors();
        }
        let mut out = Vec::new();
        for l in 0..2 {
            let block = match (family, fused) {
                ("mixtral", false) => format!("model.layers.{l}.block_sparse_moe"),
                _ => format!("model.layers.{l}.mlp"),
            };
            out.push(tensor(format!("{block}.gate.weight"), vec![E, H], |ix| gate_v(l, ix[0], ix[1])));
            if fused {
                out.push(tensor(format!("{block}.experts.gate_up_proj"), vec![E, 2 * I, H], |ix| {
                    if ix[1] < I { gate_proj_v(l, ix[0], ix[1], ix[2]) } else { up_proj_v(l, ix[0], ix[1] - I, ix[2]) }
                }));
                out.push(tensor(format!("{block}.experts.down_proj"), vec![E, H, I], |ix| down_proj_v(l, ix[0], ix[1], ix[2])));
                continue;
            }
            let [g, u, d] = if family == "mixtral" { ["w1", "w3", "w2"] } else { ["gate_proj", "up_proj", "down_proj"] };
            for e in 0..E {
                out.push(tensor(format!("{block}.experts.{e}.{g}.weight"), vec![I, H], |ix| gate_proj_v(l, e, ix[0], ix[1])));
                out.push(tensor(format!("{block}.experts.{e}.{u}.weight"), vec![I, H], |ix| up_proj_v(l, e, ix[0], ix[1])));
                out.push(tensor(format!("{block}.experts.{e}.{d}.weight"), vec![H, I], |ix| down_proj_v(l, e, ix[0], ix[1])));
            }
        }
        out
    }

    /// GPT-OSS's layers 0 and 1 as `GptOssMLP` holds them (`modeling_gpt_oss.py`): the router an
    /// `nn.Linear(H, E)` with bias, the experts stacks multiplied as `x @ W`: `gate_up_proj`
    /// [E, H, 2I] whose column 2i is the gate projection's output i and column 2i + 1 the up
    /// projection's, `down_proj` [E, I, H], biases [E, 2I] (interleaved) and [E, H].
    fn gpt_oss_tensors() -> Vec<Tensor> {
        let mut out = Vec::new();
        for l in 0..2 {
            let p = format!("model.layers.{l}.mlp");
            out.push(tensor(format!("{p}.router.weight"), vec![E, H], |ix| gate_v(l, ix[0], ix[1])));
            out.push(tensor(format!("{p}.router.bias"), vec![E], |ix| router_bias_v(l, ix[0])));
            out.push(tensor(format!("{p}.experts.gate_up_proj"), vec![E, H, 2 * I], |ix| {
                let (e, h, c) = (ix[0], ix[1], ix[2]);
                if c % 2 == 0 { gate_proj_v(l, e, c / 2, h) } else { up_proj_v(l, e, c / 2, h) }
            }));
            out.push(tensor(format!("{p}.experts.gate_up_proj_bias"), vec![E, 2 * I], |ix| {
                if ix[1] % 2 == 0 { gate_bias_v(l, ix[0], ix[1] / 2) } else { up_bias_v(l, ix[0], ix[1] / 2) }
            }));
            out.push(tensor(format!("{p}.experts.down_proj"), vec![E, I, H], |ix| down_proj_v(l, ix[0], ix[2], ix[1])));
            out.push(tensor(format!("{p}.experts.down_proj_bias"), vec![E, H], |ix| down_bias_v(l, ix[0], ix[1])));
        }
        out
    }

    /// config.json as transformers writes it for each family (the fields it reads).
    fn hf_config(family: &str) -> Value {
        let mut c = json!({
            "model_type": family, "hidden_size": H, "num_hidden_layers": 2, "num_experts_per_tok": 2,
            "hidden_act": "silu", "dtype": "bfloat16", "num_attention_heads": 4, "vocab_size": 32,
        });
        let extra = match family {
            "mixtral" => json!({ "num_local_experts": E, "intermediate_size": I, "router_jitter_noise": 0.0 }),
            "qwen3_moe" => json!({
                "num_experts": E, "moe_intermediate_size": I, "intermediate_size": 4 * I, "norm_topk_prob": true,
                "decoder_sparse_step": 1, "mlp_only_layers": [],
            }),
            "gpt_oss" => json!({ "num_local_experts": E, "intermediate_size": I, "swiglu_limit": 7.0, "swiglu_alpha": 1.702 }),
            _ => json!({ "num_experts": E, "intermediate_size": I }),
        };
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        c
    }

    fn write(name: &str, config: &Value, tensors: &[Tensor], shards: usize) -> PathBuf {
        let dir = folder(name);
        synthetic::write(&dir, &config.to_string(), tensors, shards).unwrap();
        dir
    }

    fn checkpoint_error(r: Result<HfLayer>) -> CheckpointError {
        match r {
            Err(Error::Checkpoint(e)) => e,
            Err(other) => panic!("expected a checkpoint error, got {other}"),
            Ok(l) => panic!("expected a checkpoint error, got a layer {:?}", l.spec),
        }
    }

    #[test]
    fn every_family_and_layout_loads_in_flashmoe_orientation() {
        for family in ["mixtral", "qwen3_moe", "olmoe"] {
            for fused in [false, true] {
                let dir = write(&format!("orient-{family}-{fused}"), &hf_config(family), &hf_tensors(family, fused), 1);
                let hf = HfLayer::open(&dir, 1).unwrap_or_else(|e| panic!("{family} fused={fused}: {e}"));
                assert_eq!(hf.spec.layout, if fused { Layout::Fused } else { Layout::PerExpert });
                assert_eq!(hf.spec.family.model_type(), family);
                let w = &hf.weights;
                let w3 = w.w3.as_ref().unwrap();
                for e in 0..E {
                    for h in 0..H {
                        assert_eq!(w.gate[e * H + h], gate_v(1, e, h), "{family} gate [{e}, {h}]");
                    }
                    for i in 0..I {
                        for h in 0..H {
                            assert_eq!(w.w1[(e * I + i) * H + h], gate_proj_v(1, e, i, h), "{family} fused={fused} w1 [{e}, {i}, {h}]");
                            assert_eq!(w3[(e * I + i) * H + h], up_proj_v(1, e, i, h), "{family} fused={fused} w3 [{e}, {i}, {h}]");
                            assert_eq!(w.w2[(e * H + h) * I + i], down_proj_v(1, e, h, i), "{family} fused={fused} w2 [{e}, {h}, {i}]");
                        }
                    }
                }
                assert!(w.b1.is_none() && w.b2.is_none() && w.b3.is_none());
                let cfg = hf.config(16);
                cfg.validate(1).unwrap();
                w.validate(&cfg).unwrap();
                assert_eq!((cfg.hidden, cfg.inter, cfg.experts, cfg.top_k, cfg.tokens), (H, I, E, 2, 16));
                assert!(cfg.gated && !cfg.bias && cfg.capacity_factor.is_none());
                assert_eq!((cfg.activation, cfg.dtype), (Activation::Silu, DType::Bf16));
                std::fs::remove_dir_all(&dir).unwrap();
            }
        }
    }

    #[test]
    fn config_fields_map_per_family() {
        let open = |name: &str, family: &str, edit: &dyn Fn(&mut Value)| {
            let mut c = hf_config(family);
            edit(&mut c);
            let dir = write(name, &c, &hf_tensors(family, false), 1);
            let spec = LayerSpec::read(&dir, 1).unwrap();
            std::fs::remove_dir_all(&dir).unwrap();
            spec
        };
        // Mixtral always renormalises (it has no norm_topk_prob).
        assert!(open("cfg-mixtral", "mixtral", &|_| {}).renormalize);
        assert!(open("cfg-mixtral-ignored", "mixtral", &|c| c["norm_topk_prob"] = json!(false)).renormalize);
        // Qwen3-MoE and OLMoE follow norm_topk_prob, false when absent (transformers' default).
        assert!(open("cfg-qwen-true", "qwen3_moe", &|_| {}).renormalize);
        assert!(!open("cfg-qwen-false", "qwen3_moe", &|c| c["norm_topk_prob"] = json!(false)).renormalize);
        assert!(!open("cfg-olmoe-absent", "olmoe", &|_| {}).renormalize);
        assert!(open("cfg-olmoe-true", "olmoe", &|c| c["norm_topk_prob"] = json!(true)).renormalize);
        // hidden_act: silu / swish, gelu (erf), relu; absent = silu.
        assert_eq!(open("cfg-swish", "olmoe", &|c| c["hidden_act"] = json!("swish")).activation, Activation::Silu);
        assert_eq!(open("cfg-gelu", "mixtral", &|c| c["hidden_act"] = json!("gelu")).activation, Activation::Gelu);
        assert_eq!(open("cfg-relu", "qwen3_moe", &|c| c["hidden_act"] = json!("relu")).activation, Activation::Relu);
        let no_act = open("cfg-no-act", "mixtral", &|c| {
            c.as_object_mut().unwrap().remove("hidden_act");
        });
        assert_eq!(no_act.activation, Activation::Silu);
        // dtype (transformers 5), torch_dtype (4.x), else the expert tensors' dtype.
        let torch_dtype = open("cfg-torch-dtype", "mixtral", &|c| {
            c.as_object_mut().unwrap().remove("dtype");
            c["torch_dtype"] = json!("float16");
        });
        assert_eq!(torch_dtype.dtype, DType::F16);
        let from_tensors = open("cfg-dtype-tensors", "qwen3_moe", &|c| {
            c.as_object_mut().unwrap().remove("dtype");
        });
        assert_eq!(from_tensors.dtype, DType::Bf16);
        assert_eq!(open("cfg-f32", "olmoe", &|c| c["dtype"] = json!("float32")).dtype, DType::F32);
        // Expert counts under either name (transformers 5 saves Qwen3-MoE's as num_local_experts).
        let rename = |from: &'static str, to: &'static str| {
            move |c: &mut Value| {
                let n = c.as_object_mut().unwrap().remove(from).unwrap();
                c[to] = n;
            }
        };
        assert_eq!(open("cfg-qwen-alias", "qwen3_moe", &rename("num_experts", "num_local_experts")).experts, E);
        assert_eq!(open("cfg-olmoe-alias", "olmoe", &rename("num_experts", "num_local_experts")).experts, E);
        assert_eq!(open("cfg-mixtral-alias", "mixtral", &rename("num_local_experts", "num_experts")).experts, E);
        // Sizes: Qwen3-MoE experts use moe_intermediate_size, not intermediate_size.
        let q = open("cfg-qwen-sizes", "qwen3_moe", &|_| {});
        assert_eq!((q.hidden, q.inter, q.experts, q.top_k), (H, I, E, 2));
    }

    #[test]
    fn sharded_equals_single_file_and_only_the_layers_shards_are_read() {
        for family in ["mixtral", "qwen3_moe"] {
            let tensors = hf_tensors(family, false);
            let single = write(&format!("single-{family}"), &hf_config(family), &tensors, 1);
            let sharded = write(&format!("sharded-{family}"), &hf_config(family), &tensors, 3);
            assert!(sharded.join("model.safetensors.index.json").is_file() && !sharded.join("model.safetensors").exists());
            let (a, b) = (HfLayer::open(&single, 1).unwrap(), HfLayer::open(&sharded, 1).unwrap());
            assert_eq!(a.weights, b.weights);
            assert_eq!(a.config(8), b.config(8));
            // Two shards: layer 0's 13 tensors in the first, layer 1's in the second. A garbage
            // first shard does not stop layer 1 from loading: its file is never opened.
            let split = write(&format!("split-{family}"), &hf_config(family), &tensors, 2);
            std::fs::write(split.join("model-00001-of-00002.safetensors"), b"not a safetensors file").unwrap();
            assert_eq!(HfLayer::open(&split, 1).unwrap().weights, a.weights);
            assert!(matches!(checkpoint_error(HfLayer::open(&split, 0)), CheckpointError::Malformed { .. }));
            for d in [single, sharded, split] {
                std::fs::remove_dir_all(d).unwrap();
            }
        }
    }

    #[test]
    fn synthetic_folders_round_trip() {
        let cfg = MoeConfig {
            tokens: 16,
            hidden: H,
            inter: I,
            experts: E,
            top_k: 2,
            gated: true,
            bias: false,
            router_bias: false,
            activation: Activation::Gelu,
            renormalize: false,
            capacity_factor: None,
            dtype: DType::F32,
            ..MoeConfig::default()
        };
        let w = Weights::random(&cfg, 3);
        for family in [Family::Qwen3Moe, Family::Olmoe, Family::Mixtral] {
            for layout in [Layout::PerExpert, Layout::Fused] {
                let dir = folder(&format!("synthetic-{}-{layout:?}", family.model_type()));
                let mut tensors = synthetic::layer_tensors(family, layout, 0, &cfg, &w);
                tensors.extend(synthetic::layer_tensors(family, layout, 1, &cfg, &Weights::random(&cfg, 4)));
                synthetic::write(&dir, &synthetic::config_json(family, &cfg, 2), &tensors, 2).unwrap();
                let hf = HfLayer::open(&dir, 0).unwrap();
                assert_eq!(hf.weights, w);
                let expect = MoeConfig { renormalize: family == Family::Mixtral, ..cfg.clone() };
                assert_eq!(hf.config(16), expect);
                std::fs::remove_dir_all(&dir).unwrap();
            }
        }
        // GPT-OSS: biases everywhere, its own clamp, one layout.
        let oss = MoeConfig {
            activation: Activation::ClampedSwiglu { alpha: 1.5, limit: 3.25 },
            bias: true,
            router_bias: true,
            renormalize: true,
            dtype: DType::Bf16,
            ..cfg
        };
        let w = Weights::random(&oss, 5);
        let dir = folder("synthetic-gpt_oss");
        let mut tensors = synthetic::layer_tensors(Family::GptOss, Layout::Interleaved, 0, &oss, &Weights::random(&oss, 6));
        tensors.extend(synthetic::layer_tensors(Family::GptOss, Layout::Interleaved, 1, &oss, &w));
        synthetic::write(&dir, &synthetic::config_json(Family::GptOss, &oss, 2), &tensors, 3).unwrap();
        let hf = HfLayer::open(&dir, 1).unwrap();
        assert_eq!(hf.weights, w);
        assert_eq!(hf.config(16), oss);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A Mixtral (or `family`) folder with the config and tensors edited.
    fn edited(name: &str, family: &str, edit_config: &dyn Fn(&mut Value), edit_tensors: &dyn Fn(&mut Vec<Tensor>)) -> PathBuf {
        let mut c = hf_config(family);
        edit_config(&mut c);
        let mut t = hf_tensors(family, false);
        edit_tensors(&mut t);
        write(name, &c, &t, 2)
    }

    fn open_edited(name: &str, family: &str, layer: usize, ec: &dyn Fn(&mut Value), et: &dyn Fn(&mut Vec<Tensor>)) -> CheckpointError {
        let dir = edited(name, family, ec, et);
        let e = checkpoint_error(HfLayer::open(&dir, layer));
        std::fs::remove_dir_all(&dir).unwrap();
        e
    }

    #[test]
    fn config_errors_name_the_file_field_or_feature() {
        let none = |_: &mut Vec<Tensor>| {};
        // No config.json.
        let dir = edited("no-config", "mixtral", &|_| {}, &none);
        std::fs::remove_file(dir.join("config.json")).unwrap();
        match checkpoint_error(HfLayer::open(&dir, 1)) {
            CheckpointError::MissingFile { path } => assert!(path.ends_with("config.json")),
            e => panic!("{e}"),
        }
        std::fs::write(dir.join("config.json"), "{ not json").unwrap();
        assert!(matches!(checkpoint_error(HfLayer::open(&dir, 1)), CheckpointError::Malformed { .. }));
        std::fs::remove_dir_all(&dir).unwrap();
        // Missing and mistyped fields, named.
        for (family, field) in [
            ("mixtral", "num_local_experts"),
            ("mixtral", "num_experts_per_tok"),
            ("qwen3_moe", "moe_intermediate_size"),
            ("olmoe", "hidden_size"),
            ("olmoe", "model_type"),
            ("qwen3_moe", "num_hidden_layers"),
        ] {
            let e = open_edited(
                &format!("missing-{field}"),
                family,
                1,
                &|c| {
                    c.as_object_mut().unwrap().remove(field);
                },
                &none,
            );
            assert!(matches!(&e, CheckpointError::MissingField { field: f, .. } if f == field), "{family}: {e}");
            assert!(e.to_string().contains(&format!("`{field}` is missing")), "{e}");
        }
        let e = open_edited("bad-act", "mixtral", 1, &|c| c["hidden_act"] = json!("gelu_pytorch_tanh"), &none);
        assert!(
            matches!(&e, CheckpointError::BadField { field, value, .. } if field == "hidden_act" && value.contains("gelu_pytorch_tanh")),
            "{e}"
        );
        let e = open_edited("bad-k", "olmoe", 1, &|c| c["num_experts_per_tok"] = json!("two"), &none);
        assert!(matches!(&e, CheckpointError::BadField { field, .. } if field == "num_experts_per_tok"), "{e}");
        let e = open_edited("bad-norm", "qwen3_moe", 1, &|c| c["norm_topk_prob"] = json!(1), &none);
        assert!(matches!(&e, CheckpointError::BadField { field, .. } if field == "norm_topk_prob"), "{e}");
        // Unknown and unsupported families; quantized checkpoints.
        let e = open_edited("unknown", "mixtral", 1, &|c| c["model_type"] = json!("llama"), &none);
        assert!(matches!(&e, CheckpointError::UnknownModelType { model_type, .. } if model_type == "llama"), "{e}");
        assert!(e.to_string().contains("mixtral, qwen3_moe, olmoe"), "{e}");
        assert!(e.to_string().contains("qwen2_moe, deepseek_v3, llama4_text, llama4"), "{e}");
        // DeepSeek router variants transformers 5 does not run are refused, not reinterpreted.
        let e = open_edited(
            "ds-greedy",
            "qwen3_moe",
            1,
            &|c| {
                c["model_type"] = json!("deepseek_v3");
                c["topk_method"] = json!("greedy");
            },
            &none,
        );
        assert!(matches!(&e, CheckpointError::Unsupported { model_type, layer: 1, .. } if model_type == "deepseek_v3"), "{e}");
        assert!(e.to_string().contains("topk_method"), "{e}");
        let e = open_edited("quantized", "mixtral", 1, &|c| c["quantization_config"] = json!({ "quant_method": "fp8" }), &none);
        assert!(matches!(&e, CheckpointError::Unsupported { .. }) && e.to_string().contains("quantization_config"), "{e}");
        assert!(e.to_string().contains("quant_method `fp8`"), "{e}");
        // Layer range and dense layers.
        let e = open_edited("range", "mixtral", 2, &|_| {}, &none);
        assert!(matches!(e, CheckpointError::LayerOutOfRange { layer: 2, layers: 2, .. }), "{e}");
        let e = open_edited("mlp-only", "qwen3_moe", 1, &|c| c["mlp_only_layers"] = json!([1]), &none);
        assert!(matches!(&e, CheckpointError::DenseLayer { model_type, layer: 1, .. } if model_type == "qwen3_moe"), "{e}");
        assert!(e.to_string().contains("layer 1 is dense"), "{e}");
        let e = open_edited("sparse-step", "qwen3_moe", 0, &|c| c["decoder_sparse_step"] = json!(2), &none);
        assert!(matches!(e, CheckpointError::DenseLayer { layer: 0, .. }), "{e}");
        // With decoder_sparse_step = 2, layer 1 is sparse.
        let dir = edited("sparse-step-ok", "qwen3_moe", &|c| c["decoder_sparse_step"] = json!(2), &none);
        HfLayer::open(&dir, 1).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let e = open_edited("step-zero", "qwen3_moe", 1, &|c| c["decoder_sparse_step"] = json!(0), &none);
        assert!(matches!(&e, CheckpointError::BadField { field, .. } if field == "decoder_sparse_step"), "{e}");
    }

    #[test]
    fn tensor_errors_name_the_key() {
        let keep = |_: &mut Value| {};
        let w2 = "model.layers.1.block_sparse_moe.experts.3.w2.weight";
        let e = open_edited("missing-tensor", "mixtral", 1, &keep, &|t| t.retain(|t| t.name != w2));
        assert!(matches!(&e, CheckpointError::MissingTensor { key, .. } if key == w2), "{e}");
        assert!(e.to_string().contains(w2), "{e}");
        let gate = "model.layers.1.mlp.gate.weight";
        let e = open_edited("missing-gate", "olmoe", 1, &keep, &|t| t.retain(|t| t.name != gate));
        assert!(matches!(&e, CheckpointError::MissingTensor { key, .. } if key == gate), "{e}");
        // A transposed down projection: [I, H] where [H, I] belongs.
        let down = "model.layers.1.mlp.experts.2.down_proj.weight";
        let e = open_edited("wrong-shape", "qwen3_moe", 1, &keep, &|t| {
            if let Some(t) = t.iter_mut().find(|t| t.name == down) {
                t.shape = vec![I, H];
            }
        });
        assert!(e.to_string().contains(down), "{e}");
        assert!(
            matches!(&e, CheckpointError::WrongShape { key, got, expected, .. } if key == down && got == &[I, H] && expected == &[H, I]),
            "{e}"
        );
        // More experts in the weights than the config says: config and weights disagree.
        let e = open_edited("fewer-experts", "mixtral", 1, &|c| c["num_local_experts"] = json!(3), &|_| {});
        assert!(matches!(&e, CheckpointError::WrongShape { key, .. } if key.ends_with("block_sparse_moe.gate.weight")), "{e}");
        // A shared expert in a family without one is refused by name, not dropped.
        let shared = "model.layers.1.mlp.shared_expert.gate_proj.weight";
        let e = open_edited("shared-expert", "qwen3_moe", 1, &keep, &|t| {
            t.push(tensor(shared.into(), vec![I, H], |_| 0.25));
        });
        assert!(
            matches!(&e, CheckpointError::UnexpectedTensor { key, model_type, .. } if key == shared && model_type == "qwen3_moe"),
            "{e}"
        );
        let bias = "model.layers.1.block_sparse_moe.gate.bias";
        let e = open_edited("router-bias", "mixtral", 1, &keep, &|t| t.push(tensor(bias.into(), vec![E, 1], |_| 0.5)));
        assert!(matches!(&e, CheckpointError::UnexpectedTensor { key, .. } if key == bias), "{e}");
        // Non-finite values are refused (Weights::validate).
        let dir = edited("nan", "mixtral", &keep, &|t| t[20].data[5] = f32::NAN);
        assert!(matches!(HfLayer::open(&dir, 1), Err(Error::Weights(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_and_dtype_errors() {
        // An F64 router.
        let dir = folder("f64");
        let mut raw: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> =
            hf_tensors("mixtral", false).into_iter().map(|t| (t.name, Dtype::BF16, t.shape, numeric_bf16(&t.data))).collect();
        let gate = "model.layers.1.block_sparse_moe.gate.weight";
        let g = raw.iter_mut().find(|t| t.0 == gate).unwrap();
        g.1 = Dtype::F64;
        g.3 = vec![0u8; E * H * 8];
        synthetic::write_raw(&dir, &hf_config("mixtral").to_string(), &raw, 1).unwrap();
        let e = checkpoint_error(HfLayer::open(&dir, 1));
        assert!(matches!(&e, CheckpointError::UnsupportedDtype { key, dtype, .. } if key == gate && dtype == "F64"), "{e}");
        // No weights at all.
        std::fs::remove_file(dir.join("model.safetensors")).unwrap();
        assert!(matches!(checkpoint_error(HfLayer::open(&dir, 1)), CheckpointError::NoWeights { .. }));
        std::fs::remove_dir_all(&dir).unwrap();
        // An index naming a shard that is not there, or a path out of the folder.
        let dir = write("index-missing-shard", &hf_config("olmoe"), &hf_tensors("olmoe", false), 2);
        std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).unwrap();
        match checkpoint_error(HfLayer::open(&dir, 1)) {
            CheckpointError::MissingFile { path } => assert!(path.ends_with("model-00002-of-00002.safetensors")),
            e => panic!("{e}"),
        }
        let index = dir.join("model.safetensors.index.json");
        std::fs::write(&index, r#"{"weight_map": {"model.layers.1.mlp.gate.weight": "../elsewhere.safetensors"}}"#).unwrap();
        assert!(matches!(checkpoint_error(HfLayer::open(&dir, 1)), CheckpointError::Malformed { .. }));
        std::fs::write(&index, r#"{"metadata": {}}"#).unwrap();
        assert!(matches!(checkpoint_error(HfLayer::open(&dir, 1)), CheckpointError::Malformed { .. }));
        std::fs::remove_dir_all(&dir).unwrap();
        // A truncated shard.
        let dir = write("truncated", &hf_config("mixtral"), &hf_tensors("mixtral", false), 1);
        let file = dir.join("model.safetensors");
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() - 100]).unwrap();
        assert!(matches!(checkpoint_error(HfLayer::open(&dir, 1)), CheckpointError::Malformed { .. }));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gpt_oss_is_deinterleaved_and_transposed_with_its_biases() {
        let dir = write("gpt-oss-orient", &hf_config("gpt_oss"), &hf_tensors("gpt_oss", false), 2);
        let hf = HfLayer::open(&dir, 1).unwrap();
        assert_eq!((hf.spec.family, hf.spec.layout), (Family::GptOss, Layout::Interleaved));
        let w = &hf.weights;
        let (w3, b1, b3, b2, gb) =
            (w.w3.as_ref().unwrap(), w.b1.as_ref().unwrap(), w.b3.as_ref().unwrap(), w.b2.as_ref().unwrap(), w.gate_bias.as_ref().unwrap());
        for e in 0..E {
            assert_eq!(gb[e], router_bias_v(1, e), "router bias [{e}]");
            for h in 0..H {
                assert_eq!(w.gate[e * H + h], gate_v(1, e, h), "router [{e}, {h}]");
                assert_eq!(b2[e * H + h], down_bias_v(1, e, h), "b2 [{e}, {h}]");
            }
            for i in 0..I {
                assert_eq!((b1[e * I + i], b3[e * I + i]), (gate_bias_v(1, e, i), up_bias_v(1, e, i)), "b1 / b3 [{e}, {i}]");
                for h in 0..H {
                    assert_eq!(w.w1[(e * I + i) * H + h], gate_proj_v(1, e, i, h), "w1 [{e}, {i}, {h}]");
                    assert_eq!(w3[(e * I + i) * H + h], up_proj_v(1, e, i, h), "w3 [{e}, {i}, {h}]");
                    assert_eq!(w.w2[(e * H + h) * I + i], down_proj_v(1, e, h, i), "w2 [{e}, {h}, {i}]");
                }
            }
        }
        let cfg = hf.config(16);
        cfg.validate(1).unwrap();
        w.validate(&cfg).unwrap();
        assert_eq!((cfg.hidden, cfg.inter, cfg.experts, cfg.top_k), (H, I, E, 2));
        assert!(cfg.gated && cfg.bias && cfg.router_bias && cfg.renormalize && cfg.capacity_factor.is_none());
        assert_eq!((cfg.activation, cfg.dtype), (Activation::GPT_OSS, DType::Bf16));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gpt_oss_config_fields() {
        let open = |name: &str, edit: &dyn Fn(&mut Value)| {
            let mut c = hf_config("gpt_oss");
            edit(&mut c);
            let dir = write(name, &c, &hf_tensors("gpt_oss", false), 1);
            let spec = LayerSpec::read(&dir, 0);
            std::fs::remove_dir_all(&dir).unwrap();
            spec
        };
        // swiglu_alpha / swiglu_limit from the config, transformers' defaults when absent.
        let custom = open("oss-custom", &|c| {
            c["swiglu_limit"] = json!(5.5);
            c["swiglu_alpha"] = json!(2);
        });
        assert_eq!(custom.unwrap().activation, Activation::ClampedSwiglu { alpha: 2.0, limit: 5.5 });
        let defaults = open("oss-defaults", &|c| {
            let o = c.as_object_mut().unwrap();
            o.remove("swiglu_limit");
            o.remove("swiglu_alpha");
        });
        assert_eq!(defaults.unwrap().activation, Activation::GPT_OSS);
        // hidden_act is not GPT-OSS's expert activation: any value is ignored.
        assert_eq!(open("oss-act", &|c| c["hidden_act"] = json!("gelu_pytorch_tanh")).unwrap().activation, Activation::GPT_OSS);
        // The expert count under its alias.
        let alias = open("oss-alias", &|c| {
            let n = c.as_object_mut().unwrap().remove("num_local_experts").unwrap();
            c["num_experts"] = n;
        });
        assert_eq!(alias.unwrap().experts, E);
        // A clamp that is not a positive number is named.
        for bad in [json!(0.0), json!(-7.0), json!("7")] {
            match open("oss-bad-limit", &|c| c["swiglu_limit"] = bad.clone()) {
                Err(Error::Checkpoint(CheckpointError::BadField { field, .. })) => assert_eq!(field, "swiglu_limit"),
                other => panic!("swiglu_limit = {bad}: {other:?}"),
            }
        }
        match open("oss-bad-alpha", &|c| c["swiglu_alpha"] = json!([1])) {
            Err(Error::Checkpoint(CheckpointError::BadField { field, .. })) => assert_eq!(field, "swiglu_alpha"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gpt_oss_tensor_errors_and_mxfp4_are_named() {
        let keep = |_: &mut Value| {};
        // The published MXFP4 checkpoints: quantization_config with quant_method mxfp4.
        let mxfp4 = json!({ "quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router"] });
        let e = open_edited("oss-mxfp4", "gpt_oss", 1, &|c| c["quantization_config"] = mxfp4.clone(), &|_| {});
        assert!(matches!(&e, CheckpointError::Unsupported { model_type, layer: 1, .. } if model_type == "gpt_oss"), "{e}");
        assert!(e.to_string().contains("quant_method `mxfp4`") && e.to_string().contains("not supported yet"), "{e}");
        // Packed experts without a quantization_config are refused by name too.
        let blocks = "model.layers.1.mlp.experts.gate_up_proj_blocks";
        let e = open_edited("oss-blocks", "gpt_oss", 1, &keep, &|t| {
            let p = "model.layers.1.mlp.experts.";
            t.retain(|t| !t.name.starts_with(p) || t.name.ends_with("_bias"));
            t.push(tensor(blocks.into(), vec![E, 2 * I, H / 32, 16], |_| 0.0));
            t.push(tensor(format!("{p}gate_up_proj_scales"), vec![E, 2 * I, H / 32], |_| 0.0));
        });
        assert!(
            matches!(&e, CheckpointError::Unsupported { .. }) && e.to_string().contains(blocks) && e.to_string().contains("MXFP4"),
            "{e}"
        );
        // A missing router bias, named.
        let bias = "model.layers.1.mlp.router.bias";
        let e = open_edited("oss-no-router-bias", "gpt_oss", 1, &keep, &|t| t.retain(|t| t.name != bias));
        assert!(matches!(&e, CheckpointError::MissingTensor { key, .. } if key == bias), "{e}");
        // gate_up_proj in nn.Linear orientation [E, 2I, H] is not GPT-OSS's [E, H, 2I].
        let gate_up = "model.layers.1.mlp.experts.gate_up_proj";
        let e = open_edited("oss-linear-orientation", "gpt_oss", 1, &keep, &|t| {
            if let Some(t) = t.iter_mut().find(|t| t.name == gate_up) {
                t.shape = vec![E, 2 * I, H];
            }
        });
        assert!(
            matches!(&e, CheckpointError::WrongShape { key, got, expected, .. } if key == gate_up && got == &[E, 2 * I, H] && expected == &[E, H, 2 * I]),
            "{e}"
        );
        // A Mixtral-style router name in a GPT-OSS block is not silently ignored.
        let gate = "model.layers.1.mlp.gate.weight";
        let e = open_edited("oss-extra", "gpt_oss", 1, &keep, &|t| t.push(tensor(gate.into(), vec![E, H], |_| 0.5)));
        assert!(matches!(&e, CheckpointError::UnexpectedTensor { key, model_type, .. } if key == gate && model_type == "gpt_oss"), "{e}");
    }

    /// Qwen2-MoE, DeepSeek-V3 and Llama-4 (text-only and multimodal) written by `synthetic` from
    /// random weights load back to the same weights and configuration, router and shared expert
    /// included; transformers' names were checked against `save_pretrained` of tiny models.
    #[test]
    fn shared_expert_families_round_trip() {
        let base = MoeConfig {
            tokens: 16,
            hidden: H,
            inter: I,
            experts: E,
            top_k: 2,
            gated: true,
            activation: Activation::Silu,
            capacity_factor: None,
            renormalize: false,
            dtype: DType::Bf16,
            ..MoeConfig::default()
        };
        let cases = [
            (
                Family::Qwen2Moe,
                Layout::PerExpert,
                MoeConfig { shared: Some(SharedExpert { inter: 192, sigmoid_gate: true }), ..base.clone() },
            ),
            (
                Family::Qwen2Moe,
                Layout::Fused,
                MoeConfig { renormalize: true, shared: Some(SharedExpert { inter: 64, sigmoid_gate: true }), ..base.clone() },
            ),
            (
                Family::DeepseekV3,
                Layout::PerExpert,
                MoeConfig {
                    renormalize: true,
                    router: Router::GroupedSigmoid { groups: 2, topk_groups: 1, scaling: 2.5 },
                    shared: Some(SharedExpert { inter: I, sigmoid_gate: false }),
                    ..base.clone()
                },
            ),
            (
                Family::DeepseekV3,
                Layout::Fused,
                MoeConfig { router: Router::GroupedSigmoid { groups: 1, topk_groups: 1, scaling: 1.5 }, ..base.clone() },
            ),
            (
                Family::Llama4Text,
                Layout::Chunked,
                MoeConfig {
                    top_k: 1,
                    router: Router::SigmoidScaledInput,
                    shared: Some(SharedExpert { inter: I, sigmoid_gate: false }),
                    ..base.clone()
                },
            ),
            (
                Family::Llama4,
                Layout::Chunked,
                MoeConfig {
                    router: Router::SigmoidScaledInput,
                    shared: Some(SharedExpert { inter: I, sigmoid_gate: false }),
                    ..base.clone()
                },
            ),
        ];
        for (n, (family, layout, cfg)) in cases.into_iter().enumerate() {
            cfg.validate(1).unwrap();
            let w = Weights::random(&cfg, 90 + n as u64);
            let tensors: Vec<Tensor> = (0..2).flat_map(|l| synthetic::layer_tensors(family, layout, l, &cfg, &w)).collect();
            let dir = write(&format!("shared-{n}"), &serde_json::from_str(&synthetic::config_json(family, &cfg, 2)).unwrap(), &tensors, 2);
            let hf = HfLayer::open(&dir, 1).unwrap_or_else(|e| panic!("{family:?} {layout:?}: {e}"));
            assert_eq!((hf.spec.family, hf.spec.layout), (family, layout));
            assert_eq!(hf.config(16), cfg, "{family:?} {layout:?}");
            // Random values are exact in bf16 except the F32 score bias, written as F32.
            assert_eq!(hf.weights, w, "{family:?} {layout:?}");
            // The kernel runs every router but no shared expert yet.
            match (hf.config(16).kernel_support(), cfg.shared) {
                (Ok(()), None) => {}
                (Err(crate::ConfigError::NotInKernel(what)), Some(_)) => assert!(what.starts_with("the shared expert"), "{what}"),
                (r, shared) => panic!("{family:?} {layout:?} shared {shared:?}: {r:?}"),
            }
            // A layer of the wrong kind is named: DeepSeek's first_k_dense_replace, Llama-4's moe_layers.
            std::fs::remove_dir_all(&dir).unwrap();
        }
        let ds = MoeConfig { router: Router::GroupedSigmoid { groups: 2, topk_groups: 1, scaling: 1.0 }, ..base.clone() };
        let w = Weights::random(&ds, 1);
        let tensors: Vec<Tensor> =
            (0..2).flat_map(|l| synthetic::layer_tensors(Family::DeepseekV3, Layout::PerExpert, l, &ds, &w)).collect();
        let mut c: Value = serde_json::from_str(&synthetic::config_json(Family::DeepseekV3, &ds, 2)).unwrap();
        c["first_k_dense_replace"] = json!(1);
        let dir = write("ds-dense", &c, &tensors, 1);
        let e = checkpoint_error(HfLayer::open(&dir, 0));
        assert!(matches!(&e, CheckpointError::DenseLayer { layer: 0, .. }) && e.to_string().contains("first_k_dense_replace"), "{e}");
        HfLayer::open(&dir, 1).unwrap();
        // The score-correction bias is required.
        let key = "model.layers.1.mlp.gate.e_score_correction_bias";
        let dir2 = write("ds-no-bias", &c, &tensors.iter().filter(|t| t.name != key).cloned().collect::<Vec<_>>(), 1);
        assert!(matches!(checkpoint_error(HfLayer::open(&dir2, 1)), CheckpointError::MissingTensor { key: k, .. } if k == key));
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&dir2).unwrap();
        let l4 = MoeConfig { router: Router::SigmoidScaledInput, shared: Some(SharedExpert { inter: I, sigmoid_gate: false }), ..base };
        let w = Weights::random(&l4, 2);
        let tensors: Vec<Tensor> = (0..2).flat_map(|l| synthetic::layer_tensors(Family::Llama4Text, Layout::Chunked, l, &l4, &w)).collect();
        let mut c: Value = serde_json::from_str(&synthetic::config_json(Family::Llama4Text, &l4, 2)).unwrap();
        c["interleave_moe_layer_step"] = json!(2);
        let dir = write("l4-dense", &c, &tensors, 1);
        let e = checkpoint_error(HfLayer::open(&dir, 0));
        assert!(matches!(&e, CheckpointError::DenseLayer { layer: 0, .. }) && e.to_string().contains("moe_layers [1]"), "{e}");
        HfLayer::open(&dir, 1).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn transpose_and_deinterleave() {
        // A 3 x 4 block with every other column taken (step 2, row stride 8): dst[c][r].
        let src: Vec<f32> = (0..24).map(|v| v as f32).collect();
        let mut dst = vec![0.0; 12];
        transpose_into(&src, 3, 4, 8, 2, &mut dst);
        assert_eq!(dst, vec![0.0, 8.0, 16.0, 2.0, 10.0, 18.0, 4.0, 12.0, 20.0, 6.0, 14.0, 22.0]);
        transpose_into(&src[1..], 3, 4, 8, 2, &mut dst);
        assert_eq!(dst, vec![1.0, 9.0, 17.0, 3.0, 11.0, 19.0, 5.0, 13.0, 21.0, 7.0, 15.0, 23.0]);
        // Larger than a tile on both sides, step 1: a plain transpose.
        let (rows, cols) = (130, 70);
        let src: Vec<f32> = (0..rows * cols).map(|v| v as f32).collect();
        let mut dst = vec![0.0; rows * cols];
        transpose_into(&src, rows, cols, cols, 1, &mut dst);
        for r in 0..rows {
            for c in 0..cols {
                assert_eq!(dst[c * rows + r], src[r * cols + c]);
            }
        }
        assert_eq!(deinterleave(&[1.0, 2.0, 3.0, 4.0]), (vec![1.0, 3.0], vec![2.0, 4.0]));
    }

    fn numeric_bf16(v: &[f32]) -> Vec<u8> {
        crate::numeric::encode_f32(DType::Bf16, v)
    }
}
