//! f64 CPU reference of the whole MoE layer forward: gate, softmax, top-k, capacity, experts,
//! combine. It is the definition the GPU kernel is checked against.
//!
//! Semantics (the kernel implements the same):
//! - logits = x · Wgᵀ (+ bg, the router bias, when the layer has one); p = softmax(logits); the
//!   k largest logits win, ties to the lower expert.
//! - weight_j = p_j, or p_j / Σ_k p when renormalising: that is the softmax over the k chosen
//!   logits alone, GPT-OSS's router (top-k of the logits, then softmax of those k).
//! - Tokens live on `world` GPUs, `tokens` each. Each (source GPU, expert) pair keeps the first
//!   `capacity` pairs in token order; later ones are dropped and contribute 0.
//! - expert(x) = (act(x·W1ᵀ + b1) [* up(x·W3ᵀ + b3)]) · W2ᵀ + b2, up the identity except for
//!   the clamped SwiGLU: act(g) = min(g, L) · σ(α · min(g, L)), up(u) = clamp(u, −L, L) + 1.
//! - out = Σ_j weight_j · expert_j(x) over kept j, in increasing j.
//!
//! Other routers ([`Router`]; the kernel runs them too, in f32):
//! - [`Router::GroupedSigmoid`] (DeepSeek-V3, transformers' `DeepseekV3TopkRouter`): logits
//!   l = x · Wgᵀ, scores s = sigmoid(l), choice keys c = s + b (b = `score_bias`). The E experts
//!   form G groups of E / G consecutive experts; a group's score is the sum of its two largest c;
//!   the `topk_groups` best groups are kept (ties to the lower group), then the k largest c among
//!   the kept groups' experts win (ties to the lower expert). weight_j = s_j (never c_j), divided
//!   by Σ_k s + 1e-20 when renormalising, then multiplied by `scaling`.
//! - [`Router::SigmoidScaledInput`] (Llama-4, `Llama4Router` / `Llama4TextMoe`): the k largest
//!   logits win; a chosen expert sees the scaled input sigmoid(l_j) · x and its output is added
//!   with weight 1: out = Σ_j expert_j(sigmoid(l_j) · x). `Routing::weight` holds sigmoid(l_j).
//!
//! A shared expert ([`crate::SharedExpert`]) is added to every token's output, dropped or not:
//! out += [sigmoid(x · gᵀ) ·] (act(x·S1ᵀ) * up(x·S3ᵀ)) · S2ᵀ, after the routed sum.

use rayon::prelude::*;

use crate::config::{Activation, MoeConfig, Router};
use crate::weights::Weights;

/// Routing decisions for every token of every GPU (global token n = gpu · tokens + t).
#[derive(Clone, Debug, PartialEq)]
pub struct Routing {
    pub top_k: usize,
    /// `[n][j]` chosen expert, best first.
    pub expert: Vec<u32>,
    /// `[n][j]` combine weight ([`Router::SigmoidScaledInput`]: the scale of the expert's input;
    /// its output is added with weight 1).
    pub weight: Vec<f64>,
    /// `[n][j]` slot in the (source GPU, expert) region; `None` = dropped by capacity.
    pub slot: Vec<Option<u32>>,
}

impl Routing {
    /// Pairs that were kept.
    pub fn kept(&self) -> usize {
        self.slot.iter().filter(|s| s.is_some()).count()
    }
}

fn dot(a: &[f32], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(&w, &x)| w as f64 * x).sum()
}

/// `[n][e]` gate logits of `x` (`[n][hidden]`), plus the router bias when `w` has one.
pub fn gate_logits(cfg: &MoeConfig, w: &Weights, x: &[f64]) -> Vec<f64> {
    let (h, e) = (cfg.hidden, cfg.experts);
    let bias = |ex: usize| w.gate_bias.as_ref().map_or(0.0, |b| b[ex] as f64);
    x.par_chunks(h).flat_map_iter(|row| (0..e).map(move |ex| dot(&w.gate[ex * h..(ex + 1) * h], row) + bias(ex))).collect()
}

/// Softmax of one token's logits.
fn softmax(logits: &[f64]) -> Vec<f64> {
    let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let ex: Vec<f64> = logits.iter().map(|&l| (l - m).exp()).collect();
    let s: f64 = ex.iter().sum();
    ex.into_iter().map(|v| v / s).collect()
}

/// The k best experts of one token: larger logit first, ties to the lower index.
pub fn top_k(logits: &[f64], k: usize) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..logits.len() as u32).collect();
    idx.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// Whether the k-th and (k+1)-th logits of a token (or any two chosen/unchosen) are within `tol`:
/// there a reduced-precision gate may legitimately choose differently.
pub fn near_tie(logits: &[f64], k: usize, tol: f64) -> bool {
    let mut s: Vec<f64> = logits.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    k < s.len() && (s[k - 1] - s[k]).abs() <= tol
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The grouped router's view of one token: each group's score (the sum of its two largest
/// choice keys) and the choice keys with the experts of every group not kept at -inf.
fn grouped_keys(groups: usize, topk_groups: usize, score_bias: Option<&[f32]>, logits: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let e = logits.len();
    let per = e / groups;
    let keys: Vec<f64> = (0..e).map(|j| sigmoid(logits[j]) + score_bias.map_or(0.0, |b| b[j] as f64)).collect();
    let group_scores: Vec<f64> = keys.chunks(per).map(|g| top_k(g, 2).iter().map(|&j| g[j as usize]).sum()).collect();
    let kept = top_k(&group_scores, topk_groups);
    let masked = keys.iter().enumerate().map(|(j, &c)| if kept.contains(&((j / per) as u32)) { c } else { f64::NEG_INFINITY }).collect();
    (group_scores, masked)
}

/// One token's k experts under `cfg.router`, best first (`score_bias`: the grouped router's
/// score-correction bias, `[E]`; absent = zeros).
pub fn choose(cfg: &MoeConfig, score_bias: Option<&[f32]>, logits: &[f64]) -> Vec<u32> {
    match cfg.router {
        Router::Softmax | Router::SigmoidScaledInput => top_k(logits, cfg.top_k),
        Router::GroupedSigmoid { groups, topk_groups, .. } => top_k(&grouped_keys(groups, topk_groups, score_bias, logits).1, cfg.top_k),
    }
}

/// Whether one token's choice under `cfg.router` sits at a near-tie (a gap of at most `tol`),
/// where a gate computing in f32 may legitimately choose differently: the k-th against the
/// (k+1)-th logit, or for the grouped router the last kept against the first dropped group
/// score, or the k-th against the (k+1)-th key among the kept groups' experts.
pub fn choice_near_tie(cfg: &MoeConfig, score_bias: Option<&[f32]>, logits: &[f64], tol: f64) -> bool {
    match cfg.router {
        Router::Softmax | Router::SigmoidScaledInput => near_tie(logits, cfg.top_k, tol),
        Router::GroupedSigmoid { groups, topk_groups, .. } => {
            let (group_scores, masked) = grouped_keys(groups, topk_groups, score_bias, logits);
            near_tie(&group_scores, topk_groups, tol) || near_tie(&masked, cfg.top_k, tol)
        }
    }
}

/// Routing from the reference's own choice ([`choose`]; `w` gives the grouped router's
/// score-correction bias).
pub fn route(cfg: &MoeConfig, world: usize, w: &Weights, logits: &[f64]) -> Routing {
    let bias = w.score_bias.as_deref();
    let choices: Vec<u32> = logits.chunks(cfg.experts).flat_map(|l| choose(cfg, bias, l)).collect();
    routing_from_choices(cfg, world, logits, &choices)
}

/// One token's weights for its `chosen` experts under `cfg.router`.
fn weights_of(cfg: &MoeConfig, logits: &[f64], chosen: &[u32]) -> Vec<f64> {
    match cfg.router {
        Router::Softmax => {
            let p = softmax(logits);
            let norm: f64 = if cfg.renormalize { chosen.iter().map(|&c| p[c as usize]).sum() } else { 1.0 };
            chosen.iter().map(|&c| p[c as usize] / norm).collect()
        }
        Router::GroupedSigmoid { scaling, .. } => {
            let s: Vec<f64> = chosen.iter().map(|&c| sigmoid(logits[c as usize])).collect();
            let norm = if cfg.renormalize { s.iter().sum::<f64>() + 1e-20 } else { 1.0 };
            s.iter().map(|v| v / norm * scaling as f64).collect()
        }
        Router::SigmoidScaledInput => chosen.iter().map(|&c| sigmoid(logits[c as usize])).collect(),
    }
}

/// Routing for given expert choices (e.g. the GPU's, to compare outputs past near-ties): weights
/// from the f64 logits, slots by capacity in token order per source GPU.
pub fn routing_from_choices(cfg: &MoeConfig, world: usize, logits: &[f64], choices: &[u32]) -> Routing {
    let (e, k) = (cfg.experts, cfg.top_k);
    let cap = cfg.capacity() as u32;
    let n = logits.len() / e;
    let mut weight = Vec::with_capacity(n * k);
    let mut slot = Vec::with_capacity(n * k);
    let mut fill = vec![0u32; world * e];
    for t in 0..n {
        let chosen = &choices[t * k..(t + 1) * k];
        let src = t / cfg.tokens;
        for (&c, wt) in chosen.iter().zip(weights_of(cfg, &logits[t * e..(t + 1) * e], chosen)) {
            weight.push(wt);
            let f = &mut fill[src * e + c as usize];
            slot.push((*f < cap).then_some(*f));
            *f += 1;
        }
    }
    Routing { top_k: k, expert: choices.to_vec(), weight, slot }
}

/// act(v) of the gate projection.
fn activate(a: Activation, v: f64) -> f64 {
    match a {
        Activation::Relu => v.max(0.0),
        Activation::Gelu => 0.5 * v * (1.0 + libm::erf(v / std::f64::consts::SQRT_2)),
        Activation::Silu => v / (1.0 + (-v).exp()),
        Activation::ClampedSwiglu { alpha, limit } => {
            let g = v.min(limit as f64);
            g / (1.0 + (-(alpha as f64) * g).exp())
        }
    }
}

/// What a gated expert multiplies act(gate) by, from the up projection `u`.
fn up(a: Activation, u: f64) -> f64 {
    match a {
        Activation::ClampedSwiglu { limit, .. } => u.clamp(-(limit as f64), limit as f64) + 1.0,
        _ => u,
    }
}

/// One expert applied to one row.
pub fn expert_ffn(cfg: &MoeConfig, w: &Weights, expert: usize, x: &[f64]) -> Vec<f64> {
    let (h, i) = (cfg.hidden, cfg.inter);
    let w1 = &w.w1[expert * i * h..(expert + 1) * i * h];
    let mid: Vec<f64> = (0..i)
        .map(|c| {
            let mut a = dot(&w1[c * h..(c + 1) * h], x);
            if let Some(b1) = &w.b1 {
                a += b1[expert * i + c] as f64;
            }
            let mut v = activate(cfg.activation, a);
            if let Some(w3) = &w.w3 {
                let mut g = dot(&w3[expert * i * h + c * h..expert * i * h + (c + 1) * h], x);
                if let Some(b3) = &w.b3 {
                    g += b3[expert * i + c] as f64;
                }
                v *= up(cfg.activation, g);
            }
            v
        })
        .collect();
    let w2 = &w.w2[expert * h * i..(expert + 1) * h * i];
    (0..h)
        .map(|c| {
            let mut y = dot(&w2[c * i..(c + 1) * i], &mid);
            if let Some(b2) = &w.b2 {
                y += b2[expert * h + c] as f64;
            }
            y
        })
        .collect()
}

/// The shared expert applied to one row (its sigmoid gate included); `None` without one.
pub fn shared_ffn(cfg: &MoeConfig, w: &Weights, x: &[f64]) -> Option<Vec<f64>> {
    let s = cfg.shared?;
    let (h, i) = (cfg.hidden, s.inter);
    let (w1, w3, w2) = (w.shared_w1.as_ref()?, w.shared_w3.as_ref()?, w.shared_w2.as_ref()?);
    let mid: Vec<f64> = (0..i)
        .map(|c| activate(cfg.activation, dot(&w1[c * h..(c + 1) * h], x)) * up(cfg.activation, dot(&w3[c * h..(c + 1) * h], x)))
        .collect();
    let gate = match (s.sigmoid_gate, &w.shared_gate) {
        (true, Some(g)) => sigmoid(dot(g, x)),
        _ => 1.0,
    };
    Some((0..h).map(|c| gate * dot(&w2[c * i..(c + 1) * i], &mid)).collect())
}

/// Output rows of the listed global tokens (`x` holds every token, `[n][hidden]`).
pub fn forward_tokens(cfg: &MoeConfig, w: &Weights, x: &[f64], routing: &Routing, tokens: &[usize]) -> Vec<Vec<f64>> {
    let (h, k) = (cfg.hidden, cfg.top_k);
    tokens
        .par_iter()
        .map(|&t| {
            let row = &x[t * h..(t + 1) * h];
            let mut out = vec![0.0; h];
            for j in 0..k {
                if routing.slot[t * k + j].is_none() {
                    continue;
                }
                let (expert, wt) = (routing.expert[t * k + j] as usize, routing.weight[t * k + j]);
                if cfg.router == Router::SigmoidScaledInput {
                    let scaled: Vec<f64> = row.iter().map(|v| wt * v).collect();
                    for (o, v) in out.iter_mut().zip(expert_ffn(cfg, w, expert, &scaled)) {
                        *o += v;
                    }
                } else {
                    for (o, v) in out.iter_mut().zip(expert_ffn(cfg, w, expert, row)) {
                        *o += wt * v;
                    }
                }
            }
            if let Some(y) = shared_ffn(cfg, w, row) {
                for (o, v) in out.iter_mut().zip(y) {
                    *o += v;
                }
            }
            out
        })
        .collect()
}

/// The whole forward: every token of every GPU, with the reference's own routing.
pub fn forward(cfg: &MoeConfig, world: usize, w: &Weights, x: &[f64]) -> (Vec<f64>, Routing) {
    let logits = gate_logits(cfg, w, x);
    let routing = route(cfg, world, w, &logits);
    let all: Vec<usize> = (0..x.len() / cfg.hidden).collect();
    (forward_tokens(cfg, w, x, &routing, &all).concat(), routing)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// H = I = 2 with identity W1, W2, so each expert is act(x) and outputs are easy to reason about.
    fn tiny(experts: usize, top_k: usize, activation: Activation) -> (MoeConfig, Weights) {
        let cfg = MoeConfig { tokens: 4, hidden: 2, inter: 2, experts, top_k, activation, capacity_factor: None, ..MoeConfig::default() };
        let eye: Vec<f32> = (0..experts).flat_map(|_| [1.0, 0.0, 0.0, 1.0]).collect();
        // Expert e's gate row is (e, 0): token (a, b) has logit e·a.
        let gate: Vec<f32> = (0..experts).flat_map(|e| [e as f32, 0.0]).collect();
        let w = Weights { gate, w1: eye.clone(), w2: eye, ..Weights::default() };
        (cfg, w)
    }

    #[test]
    fn identity_experts_k1_return_relu_of_input() {
        let (cfg, w) = tiny(3, 1, Activation::Relu);
        let x = vec![1.0, -2.0, 0.5, 3.0, -1.0, 4.0, 2.0, 2.0];
        let (out, r) = forward(&cfg, 1, &w, &x);
        // Positive a: expert 2 wins; a = -1: expert 0 (logit 0 beats -1, -2).
        assert_eq!(r.expert, vec![2, 2, 0, 2]);
        // k = 1 with renormalisation: weight 1.
        assert!(r.weight.iter().all(|&v| (v - 1.0).abs() < 1e-15));
        assert_eq!(out, vec![1.0, 0.0, 0.5, 3.0, 0.0, 4.0, 2.0, 2.0]);
    }

    #[test]
    fn ties_go_to_the_lower_expert() {
        assert_eq!(top_k(&[1.0, 3.0, 3.0, 0.0], 2), vec![1, 2]);
        assert_eq!(top_k(&[2.0, 2.0, 2.0], 1), vec![0]);
        // Token (0, b): every logit is 0, so experts 0 and 1 win.
        let (cfg, w) = tiny(4, 2, Activation::Relu);
        let (_, r) = forward(&cfg, 1, &w, &[0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
        assert_eq!(&r.expert[..2], &[0, 1]);
        assert!((r.weight[0] - 0.5).abs() < 1e-15 && (r.weight[1] - 0.5).abs() < 1e-15);
    }

    #[test]
    fn softmax_weights_without_renormalisation() {
        let (mut cfg, w) = tiny(2, 1, Activation::Relu);
        cfg.renormalize = false;
        // Token (1, 1): logits (0, 1): p1 = e / (1 + e).
        let (out, r) = forward(&cfg, 1, &w, &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        let p1 = std::f64::consts::E / (1.0 + std::f64::consts::E);
        assert!((r.weight[0] - p1).abs() < 1e-15);
        assert!((out[0] - p1).abs() < 1e-15);
    }

    #[test]
    fn capacity_drops_later_tokens_and_zeroes_them() {
        let (mut cfg, w) = tiny(2, 1, Activation::Relu);
        // capacity ceil(4·1/2 · 0.5) = 1: only the first token routed to each expert is kept.
        cfg.capacity_factor = Some(0.5);
        let x = vec![1.0, 1.0, 2.0, 2.0, -1.0, 5.0, -2.0, 7.0];
        let (out, r) = forward(&cfg, 1, &w, &x);
        assert_eq!(r.expert, vec![1, 1, 0, 0]);
        assert_eq!(r.slot, vec![Some(0), None, Some(0), None]);
        assert_eq!(out, vec![1.0, 1.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0]);
        assert_eq!(r.kept(), 2);
    }

    #[test]
    fn capacity_is_per_source_gpu() {
        let (mut cfg, w) = tiny(2, 1, Activation::Relu);
        cfg.tokens = 2;
        cfg.capacity_factor = Some(1.0); // capacity ceil(2/2) = 1 per (gpu, expert)
        // Both GPUs send their two tokens to expert 1: each keeps its first.
        let x = vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let (_, r) = forward(&cfg, 2, &w, &x);
        assert_eq!(r.slot, vec![Some(0), None, Some(0), None]);
    }

    #[test]
    fn gated_experts_with_bias() {
        let (mut cfg, mut w) = tiny(1, 1, Activation::Silu);
        cfg.gated = true;
        cfg.bias = true;
        w.w3 = Some(vec![2.0, 0.0, 0.0, 2.0]);
        w.b1 = Some(vec![0.5, 0.0]);
        w.b3 = Some(vec![0.0, 1.0]);
        w.b2 = Some(vec![0.25, -0.25]);
        w.validate(&cfg).unwrap();
        let y = expert_ffn(&cfg, &w, 0, &[1.0, 2.0]);
        let silu = |v: f64| v / (1.0 + (-v).exp());
        assert!((y[0] - (silu(1.5) * 2.0 + 0.25)).abs() < 1e-14);
        assert!((y[1] - (silu(2.0) * 5.0 - 0.25)).abs() < 1e-14);
    }

    #[test]
    fn router_bias_moves_the_routing() {
        let (mut cfg, mut w) = tiny(2, 1, Activation::Relu);
        cfg.renormalize = false;
        cfg.router_bias = true;
        w.gate_bias = Some(vec![2.0, 0.0]);
        // Token (1, 1): logits (0 + 2, 1 + 0): expert 0 now wins (expert 1 without the bias),
        // with weight softmax(2, 1)_0 = e / (e + 1).
        let (out, r) = forward(&cfg, 1, &w, &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(gate_logits(&cfg, &w, &[1.0, 1.0]), vec![2.0, 1.0]);
        assert_eq!(r.expert, vec![0, 0, 0, 0]);
        let e = std::f64::consts::E;
        assert!((r.weight[0] - e / (e + 1.0)).abs() < 1e-15);
        assert!((out[1] - e / (e + 1.0)).abs() < 1e-15);
    }

    #[test]
    fn renormalised_weights_are_the_softmax_of_the_chosen_logits() {
        // GPT-OSS's router: top-k of the logits, then softmax over those k only.
        let (mut cfg, mut w) = tiny(3, 2, Activation::Relu);
        cfg.router_bias = true;
        w.gate = vec![0.0; 6];
        w.gate_bias = Some(vec![0.5, 2.0, 1.0]);
        let (_, r) = forward(&cfg, 1, &w, &[1.0; 8]);
        let e = std::f64::consts::E;
        assert_eq!(&r.expert[..2], &[1, 2]);
        assert!((r.weight[0] - e / (e + 1.0)).abs() < 1e-15 && (r.weight[1] - 1.0 / (e + 1.0)).abs() < 1e-15);
    }

    #[test]
    fn clamped_swiglu_by_hand_with_both_clamps_hit() {
        // One token x = (1, 2), two experts, k = 2, renormalised, router bias; W1 = W2 = I and
        // W3 = 2I for both experts, alpha = 1.5, limit = 1.
        let cfg = MoeConfig {
            tokens: 1,
            hidden: 2,
            inter: 2,
            experts: 2,
            top_k: 2,
            capacity_factor: None,
            activation: Activation::ClampedSwiglu { alpha: 1.5, limit: 1.0 },
            gated: true,
            bias: true,
            router_bias: true,
            ..MoeConfig::default()
        };
        let eye = vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0];
        let w = Weights {
            gate: vec![1.0, 0.0, 0.0, 1.0],
            gate_bias: Some(vec![0.5, -0.25]),
            w1: eye.clone(),
            w3: Some(eye.iter().map(|v| 2.0 * v).collect()),
            w2: eye,
            b1: Some(vec![0.5, -3.0, 0.0, 0.0]),
            b3: Some(vec![0.0, -4.5, -5.0, 0.0]),
            b2: Some(vec![0.25, 0.0, 0.0, -0.5]),
            ..Weights::default()
        };
        w.validate(&cfg).unwrap();
        let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
        // Logits (1 + 0.5, 2 - 0.25) = (1.5, 1.75): expert 1 first, weights softmax(1.75, 1.5).
        let (w1, w0) = (sigmoid(0.25), sigmoid(-0.25));
        // Expert 0: gate (1.5, -1) -> (1, -1) (clamped above); up (2, -0.5) -> (1, -0.5) + 1.
        let y0 = [1.0 * sigmoid(1.5) * 2.0 + 0.25, -sigmoid(-1.5) * 0.5];
        // Expert 1: gate (1, 2) -> (1, 1); up (-3, 4) -> (-1, 1) + 1 (clamped below and above).
        let y1 = [0.0, sigmoid(1.5) * 2.0 - 0.5];
        for (got, want) in expert_ffn(&cfg, &w, 0, &[1.0, 2.0]).iter().zip(y0).chain(expert_ffn(&cfg, &w, 1, &[1.0, 2.0]).iter().zip(y1)) {
            assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        }
        let (out, r) = forward(&cfg, 1, &w, &[1.0, 2.0]);
        assert_eq!(r.expert, vec![1, 0]);
        assert!((r.weight[0] - w1).abs() < 1e-15 && (r.weight[1] - w0).abs() < 1e-15);
        for c in 0..2 {
            let want = w1 * y1[c] + w0 * y0[c];
            assert!((out[c] - want).abs() < 1e-15, "column {c}: {} vs {want}", out[c]);
        }
        // The up projection passes unchanged through every other activation.
        assert_eq!(up(Activation::Silu, 9.0), 9.0);
        assert_eq!(up(Activation::GPT_OSS, 9.0), 8.0);
        assert_eq!(up(Activation::GPT_OSS, -9.0), -6.0);
    }

    /// DeepSeek-V3's router by hand: 4 experts in 2 groups {0, 1}, {2, 3}, k = 2, one group kept.
    #[test]
    fn grouped_sigmoid_router_by_hand() {
        use crate::config::Router;
        let logit = |s: f64| (s / (1.0 - s)).ln(); // sigmoid(logit(s)) = s
        let l = [logit(0.9), logit(0.1), logit(0.6), logit(0.6)];
        let grouped = |topk_groups: usize, renormalize: bool| MoeConfig {
            experts: 4,
            top_k: 2,
            renormalize,
            router: Router::GroupedSigmoid { groups: 2, topk_groups, scaling: 2.5 },
            ..MoeConfig::default()
        };
        let close = |got: &[f64], want: &[f64]| got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-14);
        // Plain top-2 of the scores would be {0, 2} (0.9, 0.6; 2 before 3 on the tie). Group
        // scores: sum of each group's top 2 = 0.9 + 0.1 = 1.0 and 0.6 + 0.6 = 1.2: group 1 alone
        // is kept, so experts 2 and 3 win.
        let cfg = grouped(1, true);
        cfg.validate(1).unwrap();
        let chosen = choose(&cfg, None, &l);
        assert_eq!(chosen, vec![2, 3]);
        // Weights: 0.6 / (0.6 + 0.6) = 0.5, times the scaling 2.5.
        assert!(close(&weights_of(&cfg, &l, &chosen), &[1.25, 1.25]));
        // Without renormalisation: 0.6 · 2.5 = 1.5 each.
        assert!(close(&weights_of(&grouped(1, false), &l, &chosen), &[1.5, 1.5]));
        // Both groups kept: plain top-k of the scores.
        assert_eq!(choose(&grouped(2, true), None, &l), vec![0, 2]);
        // A score-correction bias of 0.6 on expert 1 moves the choice (keys 0.9, 0.7, 0.6, 0.6:
        // group 0 scores 1.6 > 1.2, so experts 0 and 1 win) but not the weights, which stay
        // the unbiased scores: 0.9 / (0.9 + 0.1) · 2.5 = 2.25 and 0.1 / 1.0 · 2.5 = 0.25.
        let bias = [0.0, 0.6, 0.0, 0.0];
        let chosen = choose(&cfg, Some(&bias), &l);
        assert_eq!(chosen, vec![0, 1]);
        assert!(close(&weights_of(&cfg, &l, &chosen), &[2.25, 0.25]));
        // Near-ties of this router are in its group scores and keys, not in the logits: group
        // scores 1.6 and 1.2 are far apart, and so are the kept keys (0.9, 0.7) from -inf.
        assert!(!choice_near_tie(&cfg, Some(&bias), &l, 1e-3));
        // A bias that brings group 0 to 1.2 + 5e-4 (keys 0.9, 0.3005): the groups nearly tie.
        assert!(choice_near_tie(&cfg, Some(&[0.0, 0.2005, 0.0, 0.0]), &l, 1e-3));
        // With both groups kept, keys 0.9, 0.6 + 1e-4, 0.6: the 2nd and 3rd nearly tie.
        assert!(choice_near_tie(&grouped(2, true), Some(&[0.0, 0.0, 1e-4, 0.0]), &l, 1e-3));
        assert!(!choice_near_tie(&grouped(2, true), Some(&[0.0, 0.0, 0.1, 0.0]), &l, 1e-3));
        // The other routers' near-ties are those of the logits.
        assert!(!choice_near_tie(&MoeConfig { router: Router::Softmax, ..cfg.clone() }, None, &[2.0, 1.0, 0.0], 1e-3));
        assert!(choice_near_tie(&MoeConfig { router: Router::Softmax, ..cfg.clone() }, None, &[2.0, 1.0, 1.0], 1e-3));
        // Through `forward`, the bias read from the weights: H = 2 with gate rows (l_e, 0) and
        // the token (1, 0); identity gated SiLU experts: expert(x) = silu(x) * x.
        let cfg = MoeConfig { tokens: 1, hidden: 2, inter: 2, gated: true, activation: Activation::Silu, capacity_factor: None, ..cfg };
        let eye: Vec<f32> = (0..4).flat_map(|_| [1.0, 0.0, 0.0, 1.0]).collect();
        let gate: Vec<f32> = l.iter().flat_map(|&v| [v as f32, 0.0]).collect();
        let w = Weights { gate, w1: eye.clone(), w3: Some(eye.clone()), w2: eye, score_bias: Some(bias.to_vec()), ..Weights::default() };
        w.validate(&cfg).unwrap();
        let (out, r) = forward(&cfg, 1, &w, &[1.0, 0.0]);
        assert_eq!(r.expert, vec![0, 1]);
        let silu1 = 1.0 / (1.0 + (-1.0f64).exp());
        // The routed weights sum to 2.5 (2.25 + 0.25 up to the f32 logits), the expert gives silu(1).
        assert!((out[0] - r.weight.iter().sum::<f64>() * silu1).abs() < 1e-14 && (r.weight.iter().sum::<f64>() - 2.5).abs() < 1e-12);
        assert_eq!(out[1], 0.0);
    }

    /// Llama-4's router by hand: the chosen expert's INPUT is scaled by sigmoid(logit).
    #[test]
    fn sigmoid_scaled_input_router_by_hand() {
        use crate::config::Router;
        let (mut cfg, mut w) = tiny(2, 1, Activation::Silu);
        cfg.gated = true;
        cfg.renormalize = false;
        cfg.router = Router::SigmoidScaledInput;
        w.w3 = Some(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
        w.validate(&cfg).unwrap();
        // Token (ln 3, 1): logits (0, ln 3), expert 1 wins with sigmoid(ln 3) = 3/4; it sees
        // x' = (3/4 ln 3, 3/4) and gives silu(x') * x' (not 3/4 · silu(x) * x).
        let silu = |v: f64| v / (1.0 + (-v).exp());
        let x = [3f64.ln(), 1.0];
        let xs: Vec<f64> = x.iter().chain(&x).chain(&x).chain(&x).copied().collect();
        let (out, r) = forward(&cfg, 1, &w, &xs);
        assert_eq!(r.expert, vec![1; 4]);
        assert!((r.weight[0] - 0.75).abs() < 1e-7, "{}", r.weight[0]); // the logit went through f32
        for c in 0..2 {
            let xc = r.weight[0] * x[c];
            let want = silu(xc) * xc;
            assert!((out[c] - want).abs() < 1e-15, "{} vs {want}", out[c]);
            assert!((out[c] - 0.75 * silu(x[c]) * x[c]).abs() > 1e-3);
        }
    }

    /// Shared experts by hand: identity projections, with and without Qwen2-MoE's sigmoid gate.
    #[test]
    fn shared_expert_by_hand() {
        use crate::config::SharedExpert;
        let (mut cfg, mut w) = tiny(2, 1, Activation::Silu);
        cfg.gated = true;
        w.w3 = Some(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
        let eye = vec![1.0, 0.0, 0.0, 1.0];
        w.shared_w1 = Some(eye.clone());
        w.shared_w3 = Some(eye.clone());
        w.shared_w2 = Some(eye);
        let silu = |v: f64| v / (1.0 + (-v).exp());
        // Token (0, 2): logits (0, 0), expert 0 with weight 1: routed (0, silu(2) · 2).
        let x = [0.0, 2.0, 0.0, 2.0, 0.0, 2.0, 0.0, 2.0];
        // DeepSeek / Llama-4: the shared expert adds silu(x) * x again.
        cfg.shared = Some(SharedExpert { inter: 2, sigmoid_gate: false });
        w.validate(&cfg).unwrap();
        let (out, _) = forward(&cfg, 1, &w, &x);
        assert_eq!(out[0], 0.0);
        assert!((out[1] - 4.0 * silu(2.0)).abs() < 1e-15);
        // Qwen2-MoE: gate g = (1, 0) gives sigmoid(x · g) = sigmoid(0) = 1/2 on the shared part.
        cfg.shared = Some(SharedExpert { inter: 2, sigmoid_gate: true });
        w.shared_gate = Some(vec![1.0, 0.0]);
        w.validate(&cfg).unwrap();
        let (out, _) = forward(&cfg, 1, &w, &x);
        assert!((out[1] - 3.0 * silu(2.0)).abs() < 1e-15);
        // A token dropped by capacity still gets the shared expert.
        cfg.capacity_factor = Some(0.5); // capacity 1: only the first token keeps expert 0
        let (out, r) = forward(&cfg, 1, &w, &x);
        assert_eq!(r.slot[1], None);
        assert!((out[3] - silu(2.0)).abs() < 1e-15);
    }

    #[test]
    fn gelu_is_the_erf_form() {
        assert!((activate(Activation::Gelu, 1.0) - 0.841_344_746_068_542_9).abs() < 1e-15);
        assert_eq!(activate(Activation::Gelu, 0.0), 0.0);
        assert_eq!(activate(Activation::Relu, -3.0), 0.0);
    }

    #[test]
    fn near_ties_are_detected() {
        assert!(!near_tie(&[1.0, 0.5, 0.5 + 1e-9], 1, 1e-6));
        assert!(near_tie(&[1.0, 0.5, 0.5 + 1e-9], 2, 1e-6));
    }
}
