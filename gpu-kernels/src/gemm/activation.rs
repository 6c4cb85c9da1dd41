//! Expert activations on f32 (core has no libm on nvptx64: exp and erf are built from ex2).

use crate::layout::Activation;
use crate::ptx::math;

const LOG2_E: f32 = core::f32::consts::LOG2_E;

/// e^x via `ex2.approx` (about 2 ulp).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    math::ex2(x * LOG2_E)
}

/// erf(x), Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7, far under bf16 resolution.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = if x < 0.0 { -x } else { x };
    let t = math::rcp(1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    if x < 0.0 { -y } else { y }
}

/// act(x) for the run-time activation `a` (a warp-uniform branch).
#[inline(always)]
pub fn apply(a: u32, x: f32) -> f32 {
    if a == Activation::Relu as u32 {
        if x > 0.0 { x } else { 0.0 }
    } else if a == Activation::Gelu as u32 {
        0.5 * x * (1.0 + erf(x * core::f32::consts::FRAC_1_SQRT_2))
    } else {
        // SiLU: x · sigmoid(x); for very negative x, ex2 overflows to +inf and rcp gives 0.
        x * math::rcp(1.0 + exp(-x))
    }
}
