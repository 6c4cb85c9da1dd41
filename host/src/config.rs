//! The MoE layer's configuration and its validation: every bad shape is a typed error before any
//! allocation or launch.

use flashmoe_kernels::layout::{DIM_MULTIPLE, MAX_EXPERTS, MAX_TOP_K, MAX_WORLD};

/// Largest hidden or intermediate size: 2^16 keeps every index inside the kernel's u32
/// arithmetic and every buffer size far below 2^64.
pub const MAX_DIM: usize = 1 << 16;

pub use flashmoe_kernels::layout::DType;
use flashmoe_kernels::layout::{ActivationKind, RouterKind};

/// Expert activation, applied to the gate projection x·W1ᵀ (+ b1); gated experts multiply it by
/// the up projection x·W3ᵀ (+ b3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Relu,
    /// The exact (erf) form: x/2 · (1 + erf(x/√2)).
    Gelu,
    /// x · sigmoid(x); with `gated` this is SwiGLU.
    Silu,
    /// GPT-OSS's clamped SwiGLU, gated experts only: with g = min(x·W1ᵀ + b1, limit) and
    /// u = clamp(x·W3ᵀ + b3, −limit, limit), the expert's middle is g · sigmoid(alpha · g) · (u + 1)
    /// (transformers' `GptOssExperts._apply_gate`). [`Activation::GPT_OSS`] holds its values.
    ClampedSwiglu {
        alpha: f32,
        limit: f32,
    },
}

impl Activation {
    /// GPT-OSS's clamped SwiGLU: `swiglu_alpha` 1.702 and `swiglu_limit` 7.0, transformers'
    /// defaults (`GptOssConfig`) and the published checkpoints' values.
    pub const GPT_OSS: Activation = Activation::ClampedSwiglu { alpha: 1.702, limit: 7.0 };

    /// The kernel's activation word.
    pub fn kind(self) -> ActivationKind {
        match self {
            Activation::Relu => ActivationKind::Relu,
            Activation::Gelu => ActivationKind::Gelu,
            Activation::Silu => ActivationKind::Silu,
            Activation::ClampedSwiglu { .. } => ActivationKind::ClampedSwiglu,
        }
    }

    /// The kernel's SiLU-family parameters (gain, clamp): the clamped SwiGLU's alpha and
    /// limit; otherwise 1 and +inf, which leave SiLU and every up projection bitwise unchanged.
    pub fn kernel_params(self) -> (f32, f32) {
        match self {
            Activation::ClampedSwiglu { alpha, limit } => (alpha, limit),
            _ => (1.0, f32::INFINITY),
        }
    }
}

/// How the router turns the gate logits l = x·Wgᵀ of a token into its k experts and their
/// weights. `flashmoe::reference` defines each exactly; the GPU kernel runs all three (in f32,
/// ties to the lower group or expert).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Router {
    /// Mixtral, Qwen-MoE, OLMoE, GPT-OSS: p = softmax(l (+ the router bias)); the k largest
    /// logits win; weight p_j, or p_j / Σ_k p with [`MoeConfig::renormalize`].
    #[default]
    Softmax,
    /// DeepSeek-V3 / Kimi-K2 / GLM-4.5 (`noaux_tc`): s = sigmoid(l); the choice uses
    /// s + b (b the score-correction bias `gate.score_bias` \[E\]): the E experts form `groups`
    /// groups of E / groups, each group scored by the sum of its 2 best biased scores, the
    /// `topk_groups` best groups kept, then the k best biased scores among their experts. The
    /// weights are the unbiased s_j, divided by Σ_k s (+ 1e-20) with `renormalize`, then
    /// multiplied by `scaling` (`routed_scaling_factor`).
    GroupedSigmoid { groups: usize, topk_groups: usize, scaling: f32 },
    /// Llama-4: the k largest logits win; the chosen expert's INPUT is scaled by sigmoid(l_j)
    /// (expert_j(sigmoid(l_j) · x)) and its output added with weight 1.
    SigmoidScaledInput,
}

impl Router {
    /// The kernel's router word.
    pub fn kind(self) -> RouterKind {
        match self {
            Router::Softmax => RouterKind::Softmax,
            Router::GroupedSigmoid { .. } => RouterKind::GroupedSigmoid,
            Router::SigmoidScaledInput => RouterKind::SigmoidScaledInput,
        }
    }

    /// The kernel's grouped-router parameters (groups, kept groups, routed scaling factor): one
    /// group kept and a factor of 1 for the routers without groups. Validation bounds both
    /// counts by the expert count (at most 256), so they always fit the kernel's u32 words.
    pub fn kernel_params(self) -> (u32, u32, f32) {
        match self {
            Router::GroupedSigmoid { groups, topk_groups, scaling } => {
                (u32::try_from(groups).unwrap_or(u32::MAX), u32::try_from(topk_groups).unwrap_or(u32::MAX), scaling)
            }
            Router::Softmax | Router::SigmoidScaledInput => (1, 1, 1.0),
        }
    }
}

/// An always-on expert every token goes through, added to the routed output: gated,
/// act(x·S1ᵀ) * (x·S3ᵀ) · S2ᵀ with the layer's activation and no biases (DeepSeek-V3's
/// `shared_experts`, Qwen2-MoE's `shared_expert`, Llama-4's `shared_expert`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SharedExpert {
    /// Its intermediate width (DeepSeek: `moe_intermediate_size · n_shared_experts`; Qwen2-MoE:
    /// `shared_expert_intermediate_size`; Llama-4: `intermediate_size`).
    pub inter: usize,
    /// Qwen2-MoE: the output is scaled by sigmoid(x · gᵀ), g = `shared.gate` [1, H].
    pub sigmoid_gate: bool,
}

/// Shape and behaviour of one MoE layer.
///
/// ```
/// use flashmoe::{ConfigError, DType, MoeConfig};
///
/// let cfg = MoeConfig { tokens: 2048, experts: 32, top_k: 2, dtype: DType::F16, ..MoeConfig::default() };
/// assert_eq!(cfg.validate(4), Ok(()));
/// assert_eq!(cfg.capacity(), 128); // ceil(2048 · 2 / 32) rows per (GPU, expert)
/// let bad = MoeConfig { hidden: 100, ..cfg };
/// assert!(matches!(bad.validate(1), Err(ConfigError::NotMultiple { name: "hidden", .. })));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MoeConfig {
    /// Tokens each GPU holds and routes (T).
    pub tokens: usize,
    /// Model width H (input and output of every expert).
    pub hidden: usize,
    /// Expert intermediate width I.
    pub inter: usize,
    /// Experts E of the whole layer (spread over the GPUs, E / G each).
    pub experts: usize,
    /// Experts each token is routed to (k).
    pub top_k: usize,
    /// Capacity per (source GPU, expert) = ceil(T·k/E · factor); `None` never drops (capacity T).
    pub capacity_factor: Option<f64>,
    pub activation: Activation,
    /// act(x·W1 + b1) * (x·W3 + b3) instead of act(x·W1 + b1).
    pub gated: bool,
    /// Experts carry biases b1 (b3) and b2.
    pub bias: bool,
    /// The router adds a bias (`gate.bias`, `[E]`) to the gate logits before softmax and top-k
    /// (GPT-OSS).
    pub router_bias: bool,
    /// Divide the k routing weights of a token by their sum.
    pub renormalize: bool,
    pub dtype: DType,
    /// How experts are chosen and weighted (softmax top-k by default).
    pub router: Router,
    /// An always-on shared expert added to the output (none by default).
    pub shared: Option<SharedExpert>,
}

impl Default for MoeConfig {
    /// The project's default layer: H = I = 2048, E = 64, k = 2, T = 8192 per GPU, bf16, ReLU,
    /// capacity factor 1 (FlashMoE's defaults).
    fn default() -> Self {
        MoeConfig {
            tokens: 8192,
            hidden: 2048,
            inter: 2048,
            experts: 64,
            top_k: 2,
            capacity_factor: Some(1.0),
            activation: Activation::Relu,
            gated: false,
            bias: false,
            router_bias: false,
            renormalize: true,
            dtype: DType::Bf16,
            router: Router::Softmax,
            shared: None,
        }
    }
}

/// A configuration flashmoe cannot run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    #[error("top_k = {top_k} exceeds the number of experts ({experts})")]
    TopKAboveExperts { top_k: usize, experts: usize },
    #[error("top_k = {0} exceeds the supported maximum of {MAX_TOP_K}")]
    TopKTooLarge(usize),
    #[error("{0} experts exceed the supported maximum of {MAX_EXPERTS}")]
    TooManyExperts(usize),
    #[error("{name} = {value} must be a multiple of {multiple}")]
    NotMultiple { name: &'static str, value: usize, multiple: usize },
    #[error("{experts} experts cannot be split evenly over {world} GPUs")]
    ExpertsNotDivisible { experts: usize, world: usize },
    #[error("{0} GPUs exceed the supported maximum of {MAX_WORLD}")]
    TooManyGpus(usize),
    #[error("{0} tokens per GPU exceed the supported maximum of 2^24 - 1")]
    TooManyTokens(usize),
    #[error("capacity factor {0} must be a finite number above 0")]
    BadCapacityFactor(f64),
    #[error("{what} needs {need_mib} MiB on each GPU, more than the {have_mib} MiB it has")]
    OutOfMemory { what: &'static str, need_mib: usize, have_mib: usize },
    #[error("{0} tokens exceed the {1} tokens per GPU this layer was built for")]
    TokensAboveMax(usize, usize),
    #[error("{what} = {value} exceeds the supported maximum of {max}")]
    TooLarge { what: &'static str, value: u64, max: u64 },
    #[error("max_blocks = {0}: a GPU's persistent grid needs at least 2 blocks (the OS block and a processor)")]
    TooFewBlocks(u32),
    #[error("the clamped SwiGLU activation needs gated experts (it combines the gate and up projections)")]
    ClampedSwigluNeedsGated,
    #[error("clamped SwiGLU alpha = {alpha}, limit = {limit}: both must be finite and the limit above 0")]
    BadSwiglu { alpha: f32, limit: f32 },
    #[error(
        "grouped router: {experts} experts in {groups} groups keeping {topk_groups} (top_k = {top_k}): the groups must divide the experts into groups of at least 2, 1 <= topk_groups <= groups, and the kept groups must hold at least top_k experts"
    )]
    BadGroups { experts: usize, groups: usize, topk_groups: usize, top_k: usize },
    #[error("routed scaling factor {0} must be a finite number above 0")]
    BadScaling(f32),
    #[error("the router bias (gate.bias) belongs to the softmax router; the {0:?} router does not take one")]
    RouterBiasNeedsSoftmax(Router),
    #[error("the sigmoid-scaled-input router (Llama-4) does not renormalise: set renormalize = false")]
    RenormalizeScaledInput,
    #[error("the shared expert's intermediate size must be at least 1")]
    ZeroSharedInter,
    /// A feature the f64 reference defines but the GPU kernel does not implement yet (refused
    /// when a layer is built, before any allocation or launch).
    #[error("{0} is not implemented by the GPU kernel yet (the f64 reference in flashmoe::reference defines it)")]
    NotInKernel(&'static str),
}

impl MoeConfig {
    /// Checks the configuration for a layer over `world` GPUs.
    pub fn validate(&self, world: usize) -> Result<(), ConfigError> {
        for (name, v) in [
            ("tokens", self.tokens),
            ("hidden", self.hidden),
            ("inter", self.inter),
            ("experts", self.experts),
            ("top_k", self.top_k),
            ("world", world),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if self.top_k > self.experts {
            return Err(ConfigError::TopKAboveExperts { top_k: self.top_k, experts: self.experts });
        }
        if self.top_k > MAX_TOP_K as usize {
            return Err(ConfigError::TopKTooLarge(self.top_k));
        }
        if self.experts > MAX_EXPERTS as usize {
            return Err(ConfigError::TooManyExperts(self.experts));
        }
        for (name, v) in [("hidden", self.hidden), ("inter", self.inter)] {
            if v > MAX_DIM {
                return Err(ConfigError::TooLarge { what: name, value: v as u64, max: MAX_DIM as u64 });
            }
            if !v.is_multiple_of(DIM_MULTIPLE as usize) {
                return Err(ConfigError::NotMultiple { name, value: v, multiple: DIM_MULTIPLE as usize });
            }
        }
        if world > MAX_WORLD {
            return Err(ConfigError::TooManyGpus(world));
        }
        if !self.experts.is_multiple_of(world) {
            return Err(ConfigError::ExpertsNotDivisible { experts: self.experts, world });
        }
        if self.tokens >= 1 << 24 {
            return Err(ConfigError::TooManyTokens(self.tokens));
        }
        if let Some(f) = self.capacity_factor
            && !(f.is_finite() && f > 0.0)
        {
            return Err(ConfigError::BadCapacityFactor(f));
        }
        if let Activation::ClampedSwiglu { alpha, limit } = self.activation {
            if !self.gated {
                return Err(ConfigError::ClampedSwigluNeedsGated);
            }
            if !(alpha.is_finite() && limit.is_finite() && limit > 0.0) {
                return Err(ConfigError::BadSwiglu { alpha, limit });
            }
        }
        if self.router_bias && self.router != Router::Softmax {
            return Err(ConfigError::RouterBiasNeedsSoftmax(self.router));
        }
        if let Router::GroupedSigmoid { groups, topk_groups, scaling } = self.router {
            let bad = groups == 0
                || !self.experts.is_multiple_of(groups)
                || self.experts / groups < 2
                || topk_groups == 0
                || topk_groups > groups
                || topk_groups * (self.experts / groups) < self.top_k;
            if bad {
                return Err(ConfigError::BadGroups { experts: self.experts, groups, topk_groups, top_k: self.top_k });
            }
            if !(scaling.is_finite() && scaling > 0.0) {
                return Err(ConfigError::BadScaling(scaling));
            }
        }
        if self.router == Router::SigmoidScaledInput && self.renormalize {
            return Err(ConfigError::RenormalizeScaledInput);
        }
        if let Some(s) = self.shared {
            if s.inter == 0 {
                return Err(ConfigError::ZeroSharedInter);
            }
            if s.inter > MAX_DIM {
                return Err(ConfigError::TooLarge { what: "shared expert inter", value: s.inter as u64, max: MAX_DIM as u64 });
            }
            if !s.inter.is_multiple_of(DIM_MULTIPLE as usize) {
                return Err(ConfigError::NotMultiple { name: "shared expert inter", value: s.inter, multiple: DIM_MULTIPLE as usize });
            }
        }
        Ok(())
    }

    /// What the GPU kernel cannot run yet although the configuration is valid (the f64 reference
    /// runs it): [`ConfigError::NotInKernel`] naming the first such feature. Every valid
    /// configuration runs today: every [`Router`], and shared experts (with or without their
    /// sigmoid gate) as extra row tiles of the same launch. `MoeLayer` checks this when built,
    /// before any allocation or launch.
    pub fn kernel_support(&self) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Rows one source GPU may send to one expert: ceil(T·k/E · factor), at most T (a token picks
    /// an expert once), at least 1.
    pub fn capacity(&self) -> usize {
        capacity(self.tokens, self.top_k, self.experts, self.capacity_factor)
    }

    /// Floating-point operations of one forward on one GPU's tokens, counting only routed
    /// (kept) rows: 2·H·I per GEMM per row (3 GEMMs when gated), plus the gate and the shared
    /// expert (every token).
    pub fn flops(&self, routed_rows: usize) -> f64 {
        let gemms = if self.gated { 3.0 } else { 2.0 };
        let expert = 2.0 * gemms * self.hidden as f64 * self.inter as f64 * routed_rows as f64;
        let gate = 2.0 * self.tokens as f64 * self.hidden as f64 * self.experts as f64;
        let shared = self.shared.map_or(0.0, |s| {
            let gate = if s.sigmoid_gate { 2.0 * self.hidden as f64 } else { 0.0 };
            (2.0 * 3.0 * self.hidden as f64 * s.inter as f64 + gate) * self.tokens as f64
        });
        expert + gate + shared
    }
}

/// ceil(tokens·k/experts · factor) clamped to [1, tokens]; `None` = tokens (nothing dropped).
pub fn capacity(tokens: usize, top_k: usize, experts: usize, factor: Option<f64>) -> usize {
    match factor {
        None => tokens,
        Some(f) => (((tokens * top_k) as f64 / experts.max(1) as f64) * f).ceil().clamp(1.0, tokens.max(1) as f64) as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert_eq!(MoeConfig::default().validate(1), Ok(()));
        assert_eq!(MoeConfig::default().validate(4), Ok(()));
        assert_eq!(MoeConfig::default().capacity(), 256);
    }

    #[test]
    fn rejects_bad_shapes_with_typed_errors() {
        let ok = MoeConfig::default();
        let bad = |f: &dyn Fn(&mut MoeConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            c.validate(1).unwrap_err()
        };
        assert_eq!(bad(&|c| c.tokens = 0), ConfigError::Zero("tokens"));
        assert_eq!(bad(&|c| c.hidden = 0), ConfigError::Zero("hidden"));
        assert_eq!(bad(&|c| c.experts = 0), ConfigError::Zero("experts"));
        assert_eq!(bad(&|c| c.top_k = 0), ConfigError::Zero("top_k"));
        assert_eq!(
            bad(&|c| {
                c.experts = 4;
                c.top_k = 5
            }),
            ConfigError::TopKAboveExperts { top_k: 5, experts: 4 }
        );
        assert_eq!(bad(&|c| c.top_k = 9), ConfigError::TopKTooLarge(9));
        assert_eq!(bad(&|c| c.experts = 512), ConfigError::TooManyExperts(512));
        assert_eq!(bad(&|c| c.hidden = 100), ConfigError::NotMultiple { name: "hidden", value: 100, multiple: 64 });
        assert_eq!(bad(&|c| c.inter = 96), ConfigError::NotMultiple { name: "inter", value: 96, multiple: 64 });
        assert_eq!(bad(&|c| c.tokens = 1 << 24), ConfigError::TooManyTokens(1 << 24));
        assert_eq!(bad(&|c| c.hidden = 1 << 58), ConfigError::TooLarge { what: "hidden", value: 1 << 58, max: 1 << 16 });
        assert_eq!(bad(&|c| c.inter = (1 << 16) + 64), ConfigError::TooLarge { what: "inter", value: (1 << 16) + 64, max: 1 << 16 });
        assert_eq!(bad(&|c| c.capacity_factor = Some(0.0)), ConfigError::BadCapacityFactor(0.0));
        assert!(matches!(bad(&|c| c.capacity_factor = Some(f64::NAN)), ConfigError::BadCapacityFactor(_)));
        assert_eq!(ok.validate(0), Err(ConfigError::Zero("world")));
        assert_eq!(ok.validate(9), Err(ConfigError::TooManyGpus(9)));
        let e6 = MoeConfig { experts: 6, ..ok.clone() };
        assert_eq!(e6.validate(4), Err(ConfigError::ExpertsNotDivisible { experts: 6, world: 4 }));
    }

    #[test]
    fn clamped_swiglu_needs_gated_experts_and_sane_parameters() {
        let gpt_oss = MoeConfig { activation: Activation::GPT_OSS, gated: true, bias: true, router_bias: true, ..MoeConfig::default() };
        assert_eq!(gpt_oss.validate(1), Ok(()));
        assert_eq!(MoeConfig { gated: false, ..gpt_oss.clone() }.validate(1), Err(ConfigError::ClampedSwigluNeedsGated));
        let with = |alpha: f32, limit: f32| MoeConfig { activation: Activation::ClampedSwiglu { alpha, limit }, ..gpt_oss.clone() };
        assert_eq!(with(1.0, 0.0).validate(1), Err(ConfigError::BadSwiglu { alpha: 1.0, limit: 0.0 }));
        assert_eq!(with(1.0, -7.0).validate(1), Err(ConfigError::BadSwiglu { alpha: 1.0, limit: -7.0 }));
        assert_eq!(with(1.0, f32::INFINITY).validate(1), Err(ConfigError::BadSwiglu { alpha: 1.0, limit: f32::INFINITY }));
        assert!(matches!(with(f32::NAN, 7.0).validate(1), Err(ConfigError::BadSwiglu { .. })));
        assert_eq!(with(-2.0, 0.25).validate(1), Ok(()));
        // The kernel's word and parameters.
        assert_eq!(Activation::GPT_OSS.kind(), ActivationKind::ClampedSwiglu);
        assert_eq!(Activation::GPT_OSS.kernel_params(), (1.702, 7.0));
        for a in [Activation::Relu, Activation::Gelu, Activation::Silu] {
            assert_eq!(a.kernel_params(), (1.0, f32::INFINITY), "{a:?}");
        }
        assert_eq!(Activation::Silu.kind(), ActivationKind::Silu);
        assert_eq!(ActivationKind::from_u32(Activation::GPT_OSS.kind() as u32), Some(ActivationKind::ClampedSwiglu));
    }

    #[test]
    fn router_variants_and_shared_experts_validate_and_run_in_the_kernel() {
        let ds = MoeConfig {
            experts: 8,
            top_k: 2,
            gated: true,
            activation: Activation::Silu,
            router: Router::GroupedSigmoid { groups: 4, topk_groups: 2, scaling: 2.5 },
            shared: Some(SharedExpert { inter: 128, sigmoid_gate: false }),
            ..MoeConfig::default()
        };
        assert_eq!(ds.validate(1), Ok(()));
        let groups = |groups: usize, topk_groups: usize, top_k: usize| MoeConfig {
            top_k,
            router: Router::GroupedSigmoid { groups, topk_groups, scaling: 1.0 },
            ..ds.clone()
        };
        for (g, tg, k) in [(0, 1, 2), (3, 1, 2), (8, 2, 2), (4, 0, 2), (4, 5, 2), (4, 1, 3)] {
            assert!(matches!(groups(g, tg, k).validate(1), Err(ConfigError::BadGroups { .. })), "{g} {tg} {k}");
        }
        assert_eq!(groups(4, 2, 4).validate(1), Ok(()));
        let scaled = MoeConfig { router: Router::GroupedSigmoid { groups: 4, topk_groups: 2, scaling: 0.0 }, ..ds.clone() };
        assert_eq!(scaled.validate(1), Err(ConfigError::BadScaling(0.0)));
        assert_eq!(MoeConfig { router_bias: true, ..ds.clone() }.validate(1), Err(ConfigError::RouterBiasNeedsSoftmax(ds.router)));
        let shared = |inter: usize| MoeConfig { shared: Some(SharedExpert { inter, sigmoid_gate: true }), ..MoeConfig::default() };
        assert_eq!(shared(0).validate(1), Err(ConfigError::ZeroSharedInter));
        assert!(matches!(shared(100).validate(1), Err(ConfigError::NotMultiple { .. })));
        let llama4 = MoeConfig { router: Router::SigmoidScaledInput, renormalize: false, ..MoeConfig::default() };
        assert_eq!(llama4.validate(1), Ok(()));
        assert_eq!(MoeConfig { renormalize: true, ..llama4.clone() }.validate(1), Err(ConfigError::RenormalizeScaledInput));
        // Every router and the shared expert (with or without its gate) run in the kernel.
        assert_eq!(MoeConfig::default().kernel_support(), Ok(()));
        assert_eq!(MoeConfig { shared: None, ..ds.clone() }.kernel_support(), Ok(()));
        assert_eq!(llama4.kernel_support(), Ok(()));
        assert_eq!(shared(64).kernel_support(), Ok(()));
        assert_eq!(ds.kernel_support(), Ok(()));
        let llama4_shared = MoeConfig { shared: Some(SharedExpert { inter: 64, sigmoid_gate: false }), ..llama4 };
        assert_eq!(llama4_shared.kernel_support(), Ok(()));
        // The kernel's router words.
        assert_eq!(ds.router.kind(), RouterKind::GroupedSigmoid);
        assert_eq!(ds.router.kernel_params(), (4, 2, 2.5));
        assert_eq!(Router::SigmoidScaledInput.kind(), RouterKind::SigmoidScaledInput);
        for r in [Router::Softmax, Router::SigmoidScaledInput] {
            assert_eq!(r.kernel_params(), (1, 1, 1.0), "{r:?}");
            assert_eq!(RouterKind::from_u32(r.kind() as u32), Some(r.kind()));
        }
    }

    /// The kernel's warp layout (lane l holds experts l, l + 32, ...) holds at most 256 experts,
    /// so at most 128 groups of 2: every grouped router validation accepts fits it.
    #[test]
    fn grouped_routers_of_every_valid_shape_fit_the_kernel() {
        let grouped = |experts: usize, groups: usize, topk_groups: usize, top_k: usize| MoeConfig {
            experts,
            top_k,
            router: Router::GroupedSigmoid { groups, topk_groups, scaling: 1.0 },
            ..MoeConfig::default()
        };
        assert_eq!(grouped(256, 8, 4, 8).validate(1), Ok(())); // DeepSeek-V3
        assert_eq!(grouped(256, 128, 4, 8).validate(8), Ok(())); // groups of 2
        assert!(matches!(grouped(256, 256, 4, 2).validate(1), Err(ConfigError::BadGroups { .. }))); // groups of 1
        assert_eq!(grouped(384, 1, 1, 8).validate(1), Err(ConfigError::TooManyExperts(384))); // Kimi-K2's 384
        assert!(matches!(grouped(64, 3, 2, 2).validate(1), Err(ConfigError::BadGroups { .. }))); // 3 does not divide 64
        assert_eq!(grouped(96, 8, 2, 8).validate(1), Ok(())); // groups of 12: not a power of two
    }

    #[test]
    fn capacity_formula() {
        assert_eq!(capacity(8192, 2, 64, Some(1.0)), 256);
        assert_eq!(capacity(7, 2, 4, Some(1.0)), 4); // ceil(14/4) = 4
        assert_eq!(capacity(100, 2, 8, Some(1.25)), 32); // ceil(31.25)
        assert_eq!(capacity(1, 1, 256, Some(1.0)), 1);
        assert_eq!(capacity(10, 8, 1, Some(4.0)), 10); // clamped to T
        assert_eq!(capacity(10, 2, 64, None), 10);
        // Degenerate inputs (rejected by validation) must not panic on the way there.
        assert_eq!(capacity(0, 2, 64, Some(1.0)), 1);
        assert_eq!(capacity(5, 2, 0, Some(1.0)), 5);
    }
}
