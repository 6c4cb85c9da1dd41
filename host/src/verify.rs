//! Checks a GPU forward against the f64 reference: routing (exact up to near-ties of the gate),
//! slots (exact), weights, and outputs (relative L2 error on a sample of tokens, every element
//! finite). Shared by `flashmoe run`/`verify` and the GPU tests.

use crate::config::{DType, MoeConfig};
use crate::error::Result;
use crate::layer::MoeLayer;
use crate::layout::DROPPED;
use crate::numeric::{SplitMix64, relative_l2};
use crate::reference;
use crate::weights::Weights;

/// Relative L2 bound per dtype: bf16 keeps 8 mantissa bits through three roundings (GEMM0
/// output, GEMM1 output, final output); f16 11 bits; tf32 rounds GEMM operands to 11 bits.
pub fn bound(dtype: DType) -> f64 {
    match dtype {
        DType::Bf16 => 1.5e-2,
        DType::F16 => 4e-3,
        DType::F32 => 2e-3,
    }
}

/// Gap (of logits, or of the grouped router's keys and group scores) under which the GPU (f32)
/// and the f64 reference may rank experts differently.
pub const NEAR_TIE: f64 = 1e-3;

/// What a comparison found.
#[derive(Clone, Debug, Default)]
pub struct Verification {
    /// ‖gpu − ref‖ / ‖ref‖ over the sampled tokens.
    pub rel_err: f64,
    pub tokens_checked: usize,
    /// Tokens whose experts differ from the reference's at a near-tie (allowed).
    pub near_tie_mismatches: usize,
    /// Tokens whose experts differ without a near-tie (a bug).
    pub routing_errors: usize,
    /// (token, j) pairs whose slot or weight differs from the reference given the GPU's choices.
    pub slot_errors: usize,
    pub weight_errors: usize,
    /// Output elements that are NaN or infinite (unwritten poison included).
    pub non_finite: usize,
    /// Pairs dropped by capacity.
    pub dropped: usize,
    /// First problem found, for messages.
    pub first_problem: Option<String>,
}

impl Verification {
    /// Whether everything holds for `dtype`.
    pub fn passed(&self, dtype: DType) -> bool {
        self.routing_errors == 0 && self.slot_errors == 0 && self.weight_errors == 0 && self.non_finite == 0 && self.rel_err <= bound(dtype)
    }
}

/// Compares the last forward of `layer` (outputs `out[rank]`, inputs `x` of every GPU in order)
/// with the reference on `sample` tokens (all when `None`).
pub fn check(
    layer: &MoeLayer,
    w: &Weights,
    x: &[f64],
    out: &[Vec<f32>],
    tokens: usize,
    sample: Option<usize>,
    seed: u64,
) -> Result<Verification> {
    let cfg: MoeConfig = MoeConfig { tokens, ..layer.config().clone() };
    let world = layer.cluster().len();
    let (k, h) = (cfg.top_k, cfg.hidden);
    let mut v = Verification::default();
    let note = |v: &mut Verification, msg: String| {
        if v.first_problem.is_none() {
            v.first_problem = Some(msg);
        }
    };

    let logits = reference::gate_logits(&cfg, w, x);
    let own = reference::route(&cfg, world, w, &logits);
    let mut choices = Vec::with_capacity(world * tokens * k);
    let (mut slots, mut weights) = (Vec::new(), Vec::new());
    for r in 0..world {
        let g = layer.routing(r, tokens)?;
        choices.extend(g.expert.iter().map(|&e| e as u32));
        slots.extend(g.slot);
        weights.extend(g.weight);
    }
    for t in 0..world * tokens {
        let (gpu, mine) = (&choices[t * k..(t + 1) * k], &own.expert[t * k..(t + 1) * k]);
        if gpu != mine {
            if reference::choice_near_tie(&cfg, w.score_bias.as_deref(), &logits[t * cfg.experts..(t + 1) * cfg.experts], NEAR_TIE) {
                v.near_tie_mismatches += 1;
            } else {
                v.routing_errors += 1;
                note(&mut v, format!("token {t}: GPU experts {gpu:?}, reference {mine:?}"));
            }
        }
    }
    let routing = reference::routing_from_choices(&cfg, world, &logits, &choices);
    v.dropped = routing.slot.iter().filter(|s| s.is_none()).count();
    for i in 0..slots.len() {
        let expect = routing.slot[i].unwrap_or(DROPPED);
        if slots[i] != expect {
            v.slot_errors += 1;
            note(&mut v, format!("token {} j {}: GPU slot {}, reference {expect}", i / k, i % k, slots[i]));
        }
        let rw = routing.weight[i];
        if (weights[i] as f64 - rw).abs() > 1e-4 * rw.abs().max(1e-3) {
            v.weight_errors += 1;
            note(&mut v, format!("token {} j {}: GPU weight {}, reference {rw}", i / k, i % k, weights[i]));
        }
    }
    for (r, o) in out.iter().enumerate() {
        for (i, val) in o.iter().enumerate() {
            if !val.is_finite() {
                v.non_finite += 1;
                note(&mut v, format!("GPU {r} token {} column {} is {val}", i / h, i % h));
            }
        }
    }
    let n = world * tokens;
    let picked: Vec<usize> = match sample {
        Some(s) if s < n => {
            let mut rng = SplitMix64::new(seed);
            let mut p: Vec<usize> = (0..s).map(|_| (rng.next_u64() % n as u64) as usize).collect();
            p.extend([0, n - 1]);
            p.sort_unstable();
            p.dedup();
            p
        }
        _ => (0..n).collect(),
    };
    let expect = reference::forward_tokens(&cfg, w, x, &routing, &picked);
    let got: Vec<f64> = picked.iter().flat_map(|&t| out[t / tokens][(t % tokens) * h..][..h].iter().map(|&val| val as f64)).collect();
    v.rel_err = relative_l2(&got, &expect.concat());
    v.tokens_checked = picked.len();
    Ok(v)
}
