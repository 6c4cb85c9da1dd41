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
//!
//! The router is `gate.weight` [E, H] in every family. Expert tensors are `nn.Linear` weights,
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
//! Recognised but refused with [`CheckpointError::Unsupported`] naming what is missing:
//! `qwen2_moe` (shared expert with a sigmoid gate), `deepseek_v3` (sigmoid router with
//! `e_score_correction_bias`, group-limited top-k, `routed_scaling_factor`, shared experts),
//! `llama4` / `llama4_text` (top-k logits through a sigmoid scaling the expert input, shared
//! expert), `gpt_oss` (router bias, expert biases, clamped SwiGLU on interleaved columns), and any
//! checkpoint with a `quantization_config`. Any other `model_type` is
//! [`CheckpointError::UnknownModelType`].
//!
//! Only the requested layer's tensors are read: the safetensors headers of the shards that hold
//! them, then each tensor's byte range (one expert at a time), never a whole shard.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, Metadata};
use serde_json::Value;

use crate::config::{Activation, DType, MoeConfig};
use crate::error::{CheckpointError, Result};
use crate::safetensors_io::{decode_into, element_bytes};
use crate::weights::Weights;

/// The supported families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Mixtral,
    Qwen3Moe,
    Olmoe,
}

impl Family {
    /// The `model_type` of its config.json.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Mixtral => "mixtral",
            Family::Qwen3Moe => "qwen3_moe",
            Family::Olmoe => "olmoe",
        }
    }

    fn from_model_type(t: &str) -> Option<Family> {
        [Family::Mixtral, Family::Qwen3Moe, Family::Olmoe].into_iter().find(|f| f.model_type() == t)
    }

    /// Names of the gate, up and down projections in the per-expert layout.
    fn projections(self) -> [&'static str; 3] {
        match self {
            Family::Mixtral => ["w1", "w3", "w2"],
            Family::Qwen3Moe | Family::Olmoe => ["gate_proj", "up_proj", "down_proj"],
        }
    }

    /// The MoE block's tensor-name prefix of layer `layer` in `layout`.
    pub fn prefix(self, layout: Layout, layer: usize) -> String {
        match (self, layout) {
            (Family::Mixtral, Layout::PerExpert) => format!("model.layers.{layer}.block_sparse_moe."),
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
}

/// Families transformers implements that the kernel cannot run yet, and what is missing.
const UNSUPPORTED: [(&str, &str); 5] = [
    ("qwen2_moe", "shared experts (shared_expert with a sigmoid shared_expert_gate) are not supported yet"),
    (
        "deepseek_v3",
        "the sigmoid router with e_score_correction_bias, group-limited top-k (n_group, topk_group), routed_scaling_factor and shared experts are not supported yet",
    ),
    ("llama4", "the sigmoid of the top-k router logits scaling the expert input, and the shared expert, are not supported yet"),
    ("llama4_text", "the sigmoid of the top-k router logits scaling the expert input, and the shared expert, are not supported yet"),
    ("gpt_oss", "the router bias, expert biases and the clamped SwiGLU on interleaved gate_up_proj columns are not supported yet"),
];

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
    pub activation: Activation,
    /// Divide the k routing weights by their sum (always for Mixtral; `norm_topk_prob` otherwise).
    pub renormalize: bool,
    /// The config's `dtype` / `torch_dtype` when it is bfloat16, float16 or float32, else the
    /// expert tensors' dtype.
    pub dtype: DType,
    checkpoint: Checkpoint,
}

/// One layer with its weights.
#[derive(Clone, Debug)]
pub struct HfLayer {
    pub spec: LayerSpec,
    /// f32 host copies in flashmoe's layout: `gate` [E, H], `w1` / `w3` [E, I, H], `w2` [E, H, I].
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
            if let Some((_, what)) = UNSUPPORTED.iter().find(|(t, _)| *t == model_type) {
                return Err(CheckpointError::Unsupported { model_type, layer, what: what.to_string() }.into());
            }
            let known: Vec<&str> = [Family::Mixtral, Family::Qwen3Moe, Family::Olmoe].iter().map(|f| f.model_type()).collect();
            return Err(CheckpointError::UnknownModelType { path: config_path, model_type, known: known.join(", ") }.into());
        };
        if cfg.json.get("quantization_config").is_some_and(|q| !q.is_null()) {
            let what = "quantized checkpoints (quantization_config) are not supported yet".to_string();
            return Err(CheckpointError::Unsupported { model_type, layer, what }.into());
        }
        let layers = cfg.usize("num_hidden_layers")?;
        if layer >= layers {
            return Err(CheckpointError::LayerOutOfRange { path: config_path, layer, layers }.into());
        }
        let hidden = cfg.usize("hidden_size")?;
        let top_k = cfg.usize("num_experts_per_tok")?;
        // Expert counts go by either name: transformers' `attribute_map` aliases them (Mixtral
        // and Qwen3-MoE save `num_local_experts`, OLMoE saves `num_experts`; published Qwen3
        // configs say `num_experts`). A missing count is named by the family's own field.
        let (experts, inter, renormalize) = match family {
            Family::Mixtral => (cfg.usize_any(&["num_local_experts", "num_experts"])?, cfg.usize("intermediate_size")?, true),
            Family::Qwen3Moe => {
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
                (experts, cfg.usize("moe_intermediate_size")?, cfg.bool_or("norm_topk_prob", false)?)
            }
            Family::Olmoe => (
                cfg.usize_any(&["num_experts", "num_local_experts"])?,
                cfg.usize("intermediate_size")?,
                cfg.bool_or("norm_topk_prob", false)?,
            ),
        };
        let activation = match cfg.str_or("hidden_act", "silu")? {
            "silu" | "swish" => Activation::Silu,
            "gelu" => Activation::Gelu,
            "relu" => Activation::Relu,
            _ => return Err(cfg.bad("hidden_act", "silu, swish, gelu (the erf form) or relu")),
        };
        let config_dtype = ["dtype", "torch_dtype"].iter().find_map(|f| match cfg.json.get(*f).and_then(Value::as_str) {
            Some("bfloat16") => Some(DType::Bf16),
            Some("float16") => Some(DType::F16),
            Some("float32") => Some(DType::F32),
            _ => None,
        });

        let mut checkpoint = Checkpoint::open(dir)?;
        let layout = detect_layout(&checkpoint, family, layer);
        let expected = expected_tensors(family, layout, layer, experts, hidden, inter);
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
        Ok(LayerSpec { model_type, family, layout, layer, hidden, inter, experts, top_k, activation, renormalize, dtype, checkpoint })
    }

    /// The layer's configuration for `tokens` tokens per GPU: gated experts without biases, and
    /// no capacity limit (Hugging Face drops no token).
    pub fn config(&self, tokens: usize) -> MoeConfig {
        MoeConfig {
            tokens,
            hidden: self.hidden,
            inter: self.inter,
            experts: self.experts,
            top_k: self.top_k,
            capacity_factor: None,
            activation: self.activation,
            gated: true,
            bias: false,
            renormalize: self.renormalize,
            dtype: self.dtype,
        }
    }

    /// The folder the layer comes from.
    pub fn dir(&self) -> &Path {
        &self.checkpoint.dir
    }

    /// Reads the layer's weights (converted to f32, in flashmoe's orientation).
    pub fn load(&self) -> Result<Weights> {
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
                Layout::Fused => {
                    let gate_up = format!("{p}experts.gate_up_proj");
                    self.checkpoint.read_into(&gate_up, 2 * x * ih, w1e)?;
                    self.checkpoint.read_into(&gate_up, 2 * x * ih + ih, w3e)?;
                    self.checkpoint.read_into(&format!("{p}experts.down_proj"), x * hi, w2e)?;
                }
            }
        }
        let w = Weights { gate, w1, w3: Some(w3), w2, b1: None, b3: None, b2: None };
        w.validate(&self.config(1))?;
        Ok(w)
    }
}

/// Per-expert when expert 0's gate projection is there, fused when the stack is, else per-expert
/// (so the missing-tensor error names the per-expert key).
fn detect_layout(c: &Checkpoint, family: Family, layer: usize) -> Layout {
    let per_expert = format!("{}experts.0.{}.weight", family.prefix(Layout::PerExpert, layer), family.projections()[0]);
    let fused = format!("{}experts.gate_up_proj", family.prefix(Layout::Fused, layer));
    if !c.weight_map.contains_key(&per_expert) && c.weight_map.contains_key(&fused) { Layout::Fused } else { Layout::PerExpert }
}

/// Every tensor of the layer with its shape: the router first, then the experts.
fn expected_tensors(family: Family, layout: Layout, layer: usize, e: usize, h: usize, i: usize) -> Vec<(String, Vec<usize>)> {
    let p = family.prefix(layout, layer);
    let mut v = vec![(format!("{p}gate.weight"), vec![e, h])];
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
    use crate::config::{Activation, DType, MoeConfig};
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
    /// Mixtral always renormalises) with `layers` decoder layers, all sparse.
    pub fn config_json(family: Family, cfg: &MoeConfig, layers: usize) -> String {
        let act = match cfg.activation {
            Activation::Silu => "silu",
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
        };
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    /// Layer `layer`'s tensors for weights `w` (gated, no biases) under `family`'s names.
    pub fn layer_tensors(family: Family, layout: Layout, layer: usize, cfg: &MoeConfig, w: &Weights) -> Vec<Tensor> {
        let (e, h, i, dtype) = (cfg.experts, cfg.hidden, cfg.inter, cfg.dtype);
        let p = family.prefix(layout, layer);
        let t = |name: String, shape: Vec<usize>, data: Vec<f32>| Tensor { name, shape, dtype, data };
        let w3 = w.w3.clone().unwrap_or_default();
        let mut v = vec![t(format!("{p}gate.weight"), vec![e, h], w.gate.clone())];
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
        }
        v
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

    fn tensor(name: String, shape: Vec<usize>, f: impl Fn(&[usize]) -> f32) -> Tensor {
        let data = match shape.as_slice() {
            [a, b] => (0..*a).flat_map(|x| (0..*b).map(move |y| (x, y))).map(|(x, y)| f(&[x, y])).collect(),
            [a, b, c] => {
                (0..*a).flat_map(|x| (0..*b).flat_map(move |y| (0..*c).map(move |z| (x, y, z)))).map(|(x, y, z)| f(&[x, y, z])).collect()
            }
            _ => unreachable!(),
        };
        Tensor { name, shape, dtype: DType::Bf16, data }
    }

    /// Tensors of layers 0 and 1, written from the names and shapes transformers uses (not from
    /// this module's tables).
    fn hf_tensors(family: &str, fused: bool) -> Vec<Tensor> {
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
            activation: Activation::Gelu,
            renormalize: false,
            capacity_factor: None,
            dtype: DType::F32,
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
        for (model_type, says) in [
            ("qwen2_moe", "qwen2_moe layer 1: shared experts"),
            ("deepseek_v3", "e_score_correction_bias"),
            ("llama4", "sigmoid"),
            ("llama4_text", "shared expert"),
            ("gpt_oss", "clamped SwiGLU"),
        ] {
            let e = open_edited(&format!("unsupported-{model_type}"), "qwen3_moe", 1, &|c| c["model_type"] = json!(model_type), &none);
            assert!(matches!(&e, CheckpointError::Unsupported { model_type: t, layer: 1, .. } if t == model_type), "{e}");
            assert!(e.to_string().contains(says) && e.to_string().contains("not supported yet"), "{e}");
        }
        let e = open_edited("quantized", "mixtral", 1, &|c| c["quantization_config"] = json!({ "quant_method": "fp8" }), &none);
        assert!(matches!(&e, CheckpointError::Unsupported { .. }) && e.to_string().contains("quantization_config"), "{e}");
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

    fn numeric_bf16(v: &[f32]) -> Vec<u8> {
        crate::numeric::encode_f32(DType::Bf16, v)
    }
}
