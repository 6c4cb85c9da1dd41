//! Expert activations on f32 (core has no libm on nvptx64: exp and erf are built from ex2).

use crate::layout::{ActivationKind, MoeParams};
use crate::ptx::math;

const LOG2_E: f32 = core::f32::consts::LOG2_E;

/// e^x via `ex2.approx` (about 2 ulp).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    math::ex2(x * LOG2_E)
}

/// 1 / (1 + e^-x): for very negative x, ex2 overflows to +inf and rcp gives 0. Correctly
/// rounded division, for the routers (an expert choice may hang on the last bit).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    math::rcp(1.0 + exp(-x))
}

/// [`sigmoid`] with a one-instruction reciprocal (within 1 ulp), for the activations: once per
/// element of every expert output, where the correctly rounded one was about ten instructions
/// and two branches (perf log v26).
#[inline(always)]
fn sigmoid_approx(x: f32) -> f32 {
    math::rcp_approx(1.0 + exp(-x))
}

/// erf(x), Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7, far under bf16 resolution.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = if x < 0.0 { -x } else { x };
    let t = math::rcp_approx(1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    if x < 0.0 { -y } else { y }
}

/// The activation of a launch: its kind word and the parameters of the SiLU family. SiLU runs
/// as GPT-OSS's clamped SwiGLU with gain 1, no clamp (+inf) and up shift -0.0: bitwise SiLU
/// and an unchanged up projection (min(x, +inf) = x, 1 · x = x, u + -0.0 = u, NaN included),
/// so every activation shares one branch-free epilogue. (Measured with ptxas: a branch to a
/// separate clamped epilogue, inlined or called, added 32 to 400 spill bytes to the mma.sync
/// task loops or a register to the wgmma entries; this form adds 20 spill bytes to sm_90a's
/// mma.sync and tf32 task loops, thread 0's bookkeeping, and nothing elsewhere.)
#[derive(Clone, Copy)]
pub struct Act {
    kind: u32,
    alpha: f32,
    limit: f32,
    up_shift: f32,
}

impl Act {
    #[inline(always)]
    pub fn of(p: &MoeParams) -> Act {
        let clamped = p.activation == ActivationKind::ClampedSwiglu as u32;
        Act { kind: p.activation, alpha: p.act_alpha, limit: p.act_limit, up_shift: if clamped { 1.0 } else { -0.0 } }
    }

    /// act(x) of eight values of the gate projection, in place: one warp-uniform branch on the
    /// kind per vector. (Branching per value, ptxas kept two branches per value, 256 in a
    /// consumer thread's epilogue: a GEMM0 task's epilogue took 6.0 us instead of 4.6; perf log
    /// v32.)
    #[inline(always)]
    pub fn apply8(self, x: &mut [f32; 8]) {
        let a = self.kind;
        if a == ActivationKind::Relu as u32 {
            unroll!(8, i, { x[i] = if x[i] > 0.0 { x[i] } else { 0.0 } });
        } else if a == ActivationKind::Gelu as u32 {
            unroll!(8, i, { x[i] = 0.5 * x[i] * (1.0 + erf(x[i] * core::f32::consts::FRAC_1_SQRT_2)) });
        } else {
            // SiLU and the clamped SwiGLU: g · sigmoid(alpha · g), g = min(x, limit) (NaN stays
            // NaN, as with torch's clamp).
            unroll!(8, i, {
                let g = if x[i] > self.limit { self.limit } else { x[i] };
                x[i] = g * sigmoid_approx(self.alpha * g);
            });
        }
    }

    /// What a gated expert multiplies act(gate) by: clamp(u, -limit, limit) + up_shift (u itself
    /// for every activation but the clamped SwiGLU, whose shift is 1).
    #[inline(always)]
    pub fn up(self, u: f32) -> f32 {
        let l = self.limit;
        let c = if u > l {
            l
        } else if u < -l {
            -l
        } else {
            u
        };
        c + self.up_shift
    }
}
