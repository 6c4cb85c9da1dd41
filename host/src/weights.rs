//! Expert and gate weights of a whole layer, held on the host as f32 (every supported file dtype
//! and every random value is exact in f32), seeded-random or read from safetensors.
//!
//! Safetensors tensor names (PyTorch `nn.Linear` orientation, out-features first):
//!
//! | name         | shape      | present when |
//! |--------------|------------|--------------|
//! | `gate.weight`| [E, H]     | always       |
//! | `gate.bias`  | \[E\]      | router bias  |
//! | `experts.w1` | [E, I, H]  | always       |
//! | `experts.w3` | [E, I, H]  | gated        |
//! | `experts.w2` | [E, H, I]  | always       |
//! | `experts.b1` | [E, I]     | bias         |
//! | `experts.b3` | [E, I]     | bias + gated |
//! | `experts.b2` | [E, H]     | bias         |
//! | `gate.score_bias` | \[E\] | grouped sigmoid router (DeepSeek-V3's `e_score_correction_bias`) |
//! | `shared.w1`  | [Is, H]    | shared expert (gate projection) |
//! | `shared.w3`  | [Is, H]    | shared expert (up projection) |
//! | `shared.w2`  | [H, Is]    | shared expert (down projection) |
//! | `shared.gate`| [1, H]     | shared expert with a sigmoid gate (Qwen2-MoE's `shared_expert_gate`) |
//!
//! (Is is the shared expert's intermediate width, [`crate::SharedExpert::inter`].)
//!
//! Tensors may be BF16, F16 or F32; they are converted to the layer's dtype when uploaded, except
//! `gate.score_bias`, which the GPU keeps in f32 (DeepSeek-V3 stores it in f32, and its small
//! differences decide the choice). Reading and writing safetensors files needs the `safetensors`
//! feature.

use rayon::prelude::*;

use crate::config::{DType, MoeConfig, Router};
use crate::error::{Error, Result};
use crate::numeric::{self, SplitMix64, exact_values, shift_for_fan_in};

/// A tensor's name and its bytes in the layer's dtype (None when absent).
pub(crate) type Encoded = (&'static str, Option<Vec<u8>>);

/// The grouped router's score-correction bias, uploaded in f32 whatever the layer's dtype.
pub(crate) const SCORE_BIAS: &str = "gate.score_bias";

/// All weights of a layer, f32, row-major in the orientation of the table above.
///
/// ```
/// use flashmoe::{Activation, MoeConfig, Weights};
///
/// let cfg = MoeConfig { hidden: 256, inter: 512, experts: 8, gated: true, activation: Activation::Silu, ..MoeConfig::default() };
/// let w = Weights::random(&cfg, 42); // seeded: the same values on every machine
/// w.validate(&cfg)?;
/// assert_eq!(w.w1.len(), 8 * 512 * 256);
/// assert!(w.w3.is_some() && w.b1.is_none());
/// # Ok::<(), flashmoe::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Weights {
    pub gate: Vec<f32>,
    /// The router bias `[E]`, added to the logits (`MoeConfig::router_bias`).
    pub gate_bias: Option<Vec<f32>>,
    pub w1: Vec<f32>,
    pub w3: Option<Vec<f32>>,
    pub w2: Vec<f32>,
    pub b1: Option<Vec<f32>>,
    pub b3: Option<Vec<f32>>,
    pub b2: Option<Vec<f32>>,
    /// The grouped sigmoid router's score-correction bias `[E]`: added to the sigmoid scores
    /// for the choice only, never to the weights ([`Router::GroupedSigmoid`]).
    pub score_bias: Option<Vec<f32>>,
    /// The shared expert's gate and up projections [Is, H] and down projection [H, Is].
    pub shared_w1: Option<Vec<f32>>,
    pub shared_w3: Option<Vec<f32>>,
    pub shared_w2: Option<Vec<f32>>,
    /// The shared expert's sigmoid gate g [1, H] (stored as H values): its output is scaled by
    /// sigmoid(x·gᵀ).
    pub shared_gate: Option<Vec<f32>>,
}

/// One tensor's name and expected shape for `cfg`.
pub(crate) fn expected_shapes(cfg: &MoeConfig) -> Vec<(&'static str, Vec<usize>, bool)> {
    let (e, h, i) = (cfg.experts, cfg.hidden, cfg.inter);
    let (shared, si) = (cfg.shared.is_some(), cfg.shared.map_or(0, |s| s.inter));
    vec![
        ("gate.weight", vec![e, h], true),
        ("gate.bias", vec![e], cfg.router_bias),
        ("experts.w1", vec![e, i, h], true),
        ("experts.w3", vec![e, i, h], cfg.gated),
        ("experts.w2", vec![e, h, i], true),
        ("experts.b1", vec![e, i], cfg.bias),
        ("experts.b3", vec![e, i], cfg.bias && cfg.gated),
        ("experts.b2", vec![e, h], cfg.bias),
        (SCORE_BIAS, vec![e], matches!(cfg.router, Router::GroupedSigmoid { .. })),
        ("shared.w1", vec![si, h], shared),
        ("shared.w3", vec![si, h], shared),
        ("shared.w2", vec![h, si], shared),
        ("shared.gate", vec![1, h], cfg.shared.is_some_and(|s| s.sigmoid_gate)),
    ]
}

/// Seeded exact values for one tensor; large tensors are generated per expert in parallel from
/// derived seeds (the stream depends only on `seed`, not on the thread count).
fn random_tensor(seed: u64, experts: usize, per_expert: usize, fan_in: usize) -> Vec<f32> {
    let shift = shift_for_fan_in(fan_in);
    (0..experts)
        .into_par_iter()
        .flat_map_iter(|e| {
            let mut rng = SplitMix64::new(seed ^ (e as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
            exact_values(&mut rng, per_expert, shift).into_iter().map(|v| v as f32)
        })
        .collect()
}

impl Weights {
    /// Seeded random weights for `cfg` (standard deviation about 1/sqrt(fan-in); expert biases
    /// small; the router bias about as large as the logits, so it changes the routing).
    pub fn random(cfg: &MoeConfig, seed: u64) -> Weights {
        let (e, h, i) = (cfg.experts, cfg.hidden, cfg.inter);
        let bias = |s: u64, n: usize| random_tensor(s, e, n, 64 * 64);
        Weights {
            gate: random_tensor(seed ^ 0x11, 1, e * h, h),
            gate_bias: cfg.router_bias.then(|| random_tensor(seed ^ 0x88, 1, e, 1)),
            w1: random_tensor(seed ^ 0x22, e, i * h, h),
            w3: cfg.gated.then(|| random_tensor(seed ^ 0x33, e, i * h, h)),
            w2: random_tensor(seed ^ 0x44, e, h * i, i),
            b1: cfg.bias.then(|| bias(seed ^ 0x55, i)),
            b3: (cfg.bias && cfg.gated).then(|| bias(seed ^ 0x66, i)),
            b2: cfg.bias.then(|| bias(seed ^ 0x77, h)),
            // Scores lie in (0, 1): a bias of that size changes the choice.
            score_bias: matches!(cfg.router, Router::GroupedSigmoid { .. }).then(|| random_tensor(seed ^ 0x99, 1, e, 16)),
            shared_w1: cfg.shared.map(|s| random_tensor(seed ^ 0xaa, 1, s.inter * h, h)),
            shared_w3: cfg.shared.map(|s| random_tensor(seed ^ 0xbb, 1, s.inter * h, h)),
            shared_w2: cfg.shared.map(|s| random_tensor(seed ^ 0xcc, 1, h * s.inter, s.inter)),
            shared_gate: cfg.shared.filter(|s| s.sigmoid_gate).map(|_| random_tensor(seed ^ 0xdd, 1, h, h)),
        }
    }

    pub(crate) fn tensors(&self) -> [(&'static str, Option<&Vec<f32>>); 13] {
        [
            ("gate.weight", Some(&self.gate)),
            ("gate.bias", self.gate_bias.as_ref()),
            ("experts.w1", Some(&self.w1)),
            ("experts.w3", self.w3.as_ref()),
            ("experts.w2", Some(&self.w2)),
            ("experts.b1", self.b1.as_ref()),
            ("experts.b3", self.b3.as_ref()),
            ("experts.b2", self.b2.as_ref()),
            (SCORE_BIAS, self.score_bias.as_ref()),
            ("shared.w1", self.shared_w1.as_ref()),
            ("shared.w3", self.shared_w3.as_ref()),
            ("shared.w2", self.shared_w2.as_ref()),
            ("shared.gate", self.shared_gate.as_ref()),
        ]
    }

    /// Checks that every tensor `cfg` needs is present with the right size, and no other.
    pub fn validate(&self, cfg: &MoeConfig) -> Result<()> {
        for ((name, shape, needed), (_, have)) in expected_shapes(cfg).into_iter().zip(self.tensors()) {
            match (needed, have) {
                (true, None) => return Err(Error::Weights(format!("`{name}` is missing"))),
                (false, Some(_)) => return Err(Error::Weights(format!("`{name}` is present but the config does not use it"))),
                (true, Some(v)) => {
                    let expected: usize = shape.iter().product();
                    if v.len() != expected {
                        return Err(Error::ShapeMismatch { what: format!("weight `{name}`"), got: v.len(), expected });
                    }
                    if v.iter().any(|x| !x.is_finite()) {
                        return Err(Error::Weights(format!("`{name}` holds a non-finite value")));
                    }
                }
                (false, None) => {}
            }
        }
        Ok(())
    }

    /// Every tensor encoded in `dtype` (the score-correction bias in f32), with a typed error
    /// naming the first value that is not finite there (e.g. 1e5 in f16) and its index.
    pub(crate) fn encoded(&self, dtype: DType) -> Result<Vec<Encoded>> {
        self.tensors()
            .into_iter()
            .map(|(name, v)| {
                let dtype = if name == SCORE_BIAS { DType::F32 } else { dtype };
                let bytes = v
                    .map(|v| {
                        numeric::encode_f32_checked(dtype, v).map_err(|index| Error::NotRepresentable {
                            tensor: name.into(),
                            index,
                            value: v[index],
                            dtype,
                        })
                    })
                    .transpose()?;
                Ok((name, bytes))
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A gated, biased layer small enough for CPU tests (shared with the safetensors tests).
    pub(crate) fn small() -> MoeConfig {
        MoeConfig { tokens: 16, hidden: 64, inter: 128, experts: 4, top_k: 2, gated: true, bias: true, ..MoeConfig::default() }
    }

    #[test]
    fn random_weights_match_the_config_and_repeat() {
        let cfg = small();
        let w = Weights::random(&cfg, 5);
        w.validate(&cfg).unwrap();
        assert_eq!(w, Weights::random(&cfg, 5));
        assert_ne!(w.w1, Weights::random(&cfg, 6).w1);
        let plain = MoeConfig { gated: false, bias: false, ..cfg.clone() };
        assert!(matches!(w.validate(&plain), Err(Error::Weights(_))));
        // The router bias comes and goes with the config.
        let routed = MoeConfig { router_bias: true, ..cfg.clone() };
        let wb = Weights::random(&routed, 5);
        wb.validate(&routed).unwrap();
        assert_eq!(wb.gate_bias.as_ref().map(Vec::len), Some(cfg.experts));
        assert_eq!(Weights { gate_bias: None, ..wb.clone() }, w);
        assert!(matches!(w.validate(&routed), Err(Error::Weights(m)) if m.contains("gate.bias")));
        assert!(matches!(wb.validate(&cfg), Err(Error::Weights(m)) if m.contains("gate.bias")));
    }

    #[test]
    fn values_not_finite_in_the_dtype_are_rejected_with_name_and_index() {
        let cfg = MoeConfig { dtype: DType::F16, ..small() };
        let mut w = Weights::random(&cfg, 4);
        w.w2[77] = 1e5;
        match w.encoded(DType::F16) {
            Err(Error::NotRepresentable { tensor, index, .. }) => assert_eq!((tensor.as_str(), index), ("experts.w2", 77)),
            other => panic!("expected NotRepresentable, got {other:?}"),
        }
        assert!(w.encoded(DType::Bf16).is_ok());
    }

    #[test]
    fn the_score_bias_is_encoded_in_f32_whatever_the_dtype() {
        let cfg = MoeConfig { router: Router::GroupedSigmoid { groups: 2, topk_groups: 1, scaling: 1.0 }, dtype: DType::F16, ..small() };
        let mut w = Weights::random(&cfg, 3);
        // Not representable in f16 (nor exactly in bf16), exact in f32.
        w.score_bias.as_mut().unwrap()[1] = 1e5 + 0.5;
        let encoded = w.encoded(DType::F16).unwrap();
        let bytes = encoded.iter().find(|(n, _)| *n == SCORE_BIAS).and_then(|(_, b)| b.clone()).unwrap();
        assert_eq!(bytes.len(), 4 * cfg.experts);
        assert_eq!(f32::from_le_bytes(bytes[4..8].try_into().unwrap()), 1e5 + 0.5);
        let gate = encoded.iter().find(|(n, _)| *n == "gate.weight").and_then(|(_, b)| b.clone()).unwrap();
        assert_eq!(gate.len(), 2 * cfg.experts * cfg.hidden);
    }
}
