//! Warp-level data exchange and votes (all lanes of the warp take part: mask 0xffffffff).

use core::arch::asm;

const FULL: u32 = 0xffff_ffff;

/// `shfl.sync.idx.b32`: every lane reads `v` from lane `src`.
#[inline(always)]
pub fn shfl_idx_u32(v: u32, src: u32) -> u32 {
    let r: u32;
    unsafe { asm!("shfl.sync.idx.b32 {r}, {v}, {s}, 31, {m};", r = out(reg32) r, v = in(reg32) v, s = in(reg32) src, m = in(reg32) FULL) };
    r
}

/// `shfl.sync.bfly.b32`: every lane reads `v` from lane `lane ^ mask`.
#[inline(always)]
pub fn shfl_xor_u32(v: u32, mask: u32) -> u32 {
    let r: u32;
    unsafe {
        asm!("shfl.sync.bfly.b32 {r}, {v}, {x}, 31, {m};", r = out(reg32) r, v = in(reg32) v, x = in(reg32) mask, m = in(reg32) FULL)
    };
    r
}

/// `shfl.sync.bfly.b32` on the bits of an f32.
#[inline(always)]
pub fn shfl_xor_f32(v: f32, mask: u32) -> f32 {
    f32::from_bits(shfl_xor_u32(v.to_bits(), mask))
}

/// `shfl.sync.idx.b32` on the bits of an f32.
#[inline(always)]
pub fn shfl_idx_f32(v: f32, src: u32) -> f32 {
    f32::from_bits(shfl_idx_u32(v.to_bits(), src))
}

/// `vote.sync.ballot.b32`: bit i set where lane i passed `true`.
#[inline(always)]
pub fn ballot(pred: bool) -> u32 {
    let r: u32;
    unsafe {
        asm!("{{ .reg .pred p; setp.ne.u32 p, {x}, 0; vote.sync.ballot.b32 {r}, p, {m}; }}",
            r = out(reg32) r, x = in(reg32) pred as u32, m = in(reg32) FULL)
    };
    r
}

/// Exclusive prefix count of `pred` over the warp's lanes (this lane is `lane`), and the warp's
/// total: a ballot, counted below and in all.
#[inline(always)]
pub fn scan_flag(pred: bool, lane: u32) -> (u32, u32) {
    let bits = ballot(pred);
    ((bits & ((1u32 << lane) - 1)).count_ones(), bits.count_ones())
}

/// `mov.u32 %laneid`.
#[inline(always)]
pub fn lane_id() -> u32 {
    let r: u32;
    unsafe { asm!("mov.u32 {r}, %laneid;", r = out(reg32) r) };
    r
}

/// Sum of an f32 over each aligned group of `width` lanes (a power of two, at most 32; 32: the
/// warp). A butterfly: every lane of a group ends with its group's total.
#[inline(always)]
pub fn sum_f32(mut v: f32, width: u32) -> f32 {
    let mut m = width / 2;
    while m > 0 {
        v += shfl_xor_f32(v, m);
        m >>= 1;
    }
    v
}

/// Maximum of an f32 over each aligned group of `width` lanes, as [`sum_f32`].
#[inline(always)]
pub fn max_f32(mut v: f32, width: u32) -> f32 {
    let mut m = width / 2;
    while m > 0 {
        let o = shfl_xor_f32(v, m);
        v = if o > v { o } else { v };
        m >>= 1;
    }
    v
}

/// `shfl.sync.up.b32`: lane i reads `v` from lane i - delta (lanes below delta keep their own).
#[inline(always)]
pub fn shfl_up_u32(v: u32, delta: u32) -> u32 {
    let r: u32;
    unsafe { asm!("shfl.sync.up.b32 {r}, {v}, {d}, 0, {m};", r = out(reg32) r, v = in(reg32) v, d = in(reg32) delta, m = in(reg32) FULL) };
    r
}
