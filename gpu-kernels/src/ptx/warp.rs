//! Warp-level data exchange and votes (all lanes of the warp take part: mask 0xffffffff).
// Valid on sm_80 too; `sync_warp` and `tid_x_reread` are used only by the Hopper engines.
#![cfg_attr(not(target_feature = "sm_90a"), allow(dead_code))]

use core::arch::asm;

const FULL: u32 = 0xffff_ffff;

// Shuffles and votes go through LLVM's NVVM intrinsics rather than inline asm: they are
// convergent (never duplicated into divergent paths, where a full-mask shuffle is undefined) and
// touch no memory. Inline asm may touch any memory, so every value read from shared memory
// (the kernel's parameters live there) was loaded again after each shuffle: routing one token
// was a chain of such reloads.
unsafe extern "unadjusted" {
    #[link_name = "llvm.nvvm.shfl.sync.idx.i32"]
    fn shfl_sync_idx(mask: i32, v: i32, src: i32, clamp: i32) -> i32;
    #[link_name = "llvm.nvvm.shfl.sync.bfly.i32"]
    fn shfl_sync_bfly(mask: i32, v: i32, lane_mask: i32, clamp: i32) -> i32;
    #[link_name = "llvm.nvvm.shfl.sync.up.i32"]
    fn shfl_sync_up(mask: i32, v: i32, delta: i32, clamp: i32) -> i32;
    #[link_name = "llvm.nvvm.vote.ballot.sync"]
    fn vote_ballot_sync(mask: i32, pred: bool) -> i32;
    #[link_name = "llvm.nvvm.bar.warp.sync"]
    fn bar_warp_sync(mask: i32);
}

/// `bar.warp.sync`: the lanes meet, and each lane's earlier memory accesses are ordered before
/// the others' later ones.
#[inline(always)]
pub fn sync_warp() {
    unsafe { bar_warp_sync(FULL as i32) }
}

/// `shfl.sync.idx.b32`: every lane reads `v` from lane `src`.
#[inline(always)]
pub fn shfl_idx_u32(v: u32, src: u32) -> u32 {
    unsafe { shfl_sync_idx(FULL as i32, v as i32, src as i32, 31) as u32 }
}

/// `shfl.sync.bfly.b32`: every lane reads `v` from lane `lane ^ mask`.
#[inline(always)]
pub fn shfl_xor_u32(v: u32, mask: u32) -> u32 {
    unsafe { shfl_sync_bfly(FULL as i32, v as i32, mask as i32, 31) as u32 }
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
    unsafe { vote_ballot_sync(FULL as i32, pred) as u32 }
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

/// `mov.u32 %tid.x`, read again at every call (the asm is not pure, so LLVM never merges two
/// reads): a value the compiler would otherwise keep live across a whole kernel, and spill.
#[inline(always)]
pub fn tid_x_reread() -> u32 {
    let r: u32;
    unsafe { asm!("mov.u32 {r}, %tid.x;", r = out(reg32) r, options(nomem, nostack)) };
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
    unsafe { shfl_sync_up(FULL as i32, v as i32, delta as i32, 0) as u32 }
}
