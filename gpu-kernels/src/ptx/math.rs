//! Special-function and conversion instructions (core has no libm on nvptx64).

use core::arch::asm;

/// `ex2.approx.ftz.f32`: 2^x, about 2 ulp.
#[inline(always)]
pub fn ex2(x: f32) -> f32 {
    let r: f32;
    unsafe { asm!("ex2.approx.ftz.f32 {r}, {x};", r = out(reg32) r, x = in(reg32) x, options(pure, nomem, nostack)) };
    r
}

/// `rcp.rn.f32`: correctly rounded 1/x (a MUFU.RCP, a Newton step, a range check and a call to
/// a slow path for the rest: for the router's one division per token).
#[inline(always)]
pub fn rcp(x: f32) -> f32 {
    let r: f32;
    unsafe { asm!("rcp.rn.f32 {r}, {x};", r = out(reg32) r, x = in(reg32) x, options(pure, nomem, nostack)) };
    r
}

/// `rcp.approx.ftz.f32`: 1/x within 1 ulp, one MUFU.RCP (1/inf = 0; subnormal results flush to
/// zero). For the activations, once per element of every expert output: `rcp.rn` there was
/// about ten instructions and two branches each (perf log v26).
#[inline(always)]
pub fn rcp_approx(x: f32) -> f32 {
    let r: f32;
    unsafe { asm!("rcp.approx.ftz.f32 {r}, {x};", r = out(reg32) r, x = in(reg32) x, options(pure, nomem, nostack)) };
    r
}

/// `cvt.rn.bf16x2.f32`: packs two f32 into bf16x2 (`hi` in the upper half), round to nearest even.
#[inline(always)]
pub fn pack_bf16x2(lo: f32, hi: f32) -> u32 {
    let r: u32;
    unsafe {
        asm!("cvt.rn.bf16x2.f32 {r}, {h}, {l};", r = out(reg32) r, h = in(reg32) hi, l = in(reg32) lo, options(pure, nomem, nostack))
    };
    r
}

/// `cvt.rn.f16x2.f32`: packs two f32 into f16x2 (`hi` in the upper half).
#[inline(always)]
pub fn pack_f16x2(lo: f32, hi: f32) -> u32 {
    let r: u32;
    unsafe { asm!("cvt.rn.f16x2.f32 {r}, {h}, {l};", r = out(reg32) r, h = in(reg32) hi, l = in(reg32) lo, options(pure, nomem, nostack)) };
    r
}

/// `cvt.f32.f16`: widens the low half of `h`.
#[inline(always)]
pub fn f16_to_f32(h: u32) -> f32 {
    let r: f32;
    unsafe {
        asm!("{{ .reg .b16 t; cvt.u16.u32 t, {h}; cvt.f32.f16 {r}, t; }}", r = out(reg32) r, h = in(reg32) h, options(pure, nomem, nostack))
    };
    r
}
