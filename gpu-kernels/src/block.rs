//! Block-wide scans and reductions over the 4 warps (128 threads). Every thread must call them.

use crate::ptx::{copy, sync, warp};
use crate::util::thread_idx;

/// Exclusive prefix count of `pred` in thread order, and the block total. `scratch` holds 4 words.
#[inline(always)]
pub unsafe fn scan_flag(pred: bool, scratch: u32) -> (u32, u32) {
    let tid = thread_idx();
    let (w, lane) = (tid / 32, tid % 32);
    let bits = warp::ballot(pred);
    let below = (bits & ((1u32 << lane) - 1)).count_ones();
    if lane == 0 {
        unsafe { copy::st_shared_u32(scratch + w * 4, bits.count_ones()) };
    }
    sync::sync_threads();
    let (mut before, mut total) = (0, 0);
    for i in 0..4 {
        let c = unsafe { copy::ld_shared_u32(scratch + i * 4) };
        before += if i < w { c } else { 0 };
        total += c;
    }
    sync::sync_threads();
    (before + below, total)
}

/// Exclusive prefix sum of `v` in thread order, and the block total.
#[inline(always)]
pub unsafe fn scan_u32(v: u32, scratch: u32) -> (u32, u32) {
    let tid = thread_idx();
    let (w, lane) = (tid / 32, tid % 32);
    let mut inclusive = v;
    let mut d = 1;
    while d < 32 {
        let o = warp::shfl_up_u32(inclusive, d);
        if lane >= d {
            inclusive += o;
        }
        d <<= 1;
    }
    if lane == 31 {
        unsafe { copy::st_shared_u32(scratch + w * 4, inclusive) };
    }
    sync::sync_threads();
    let (mut before, mut total) = (0, 0);
    for i in 0..4 {
        let c = unsafe { copy::ld_shared_u32(scratch + i * 4) };
        before += if i < w { c } else { 0 };
        total += c;
    }
    sync::sync_threads();
    (before + inclusive - v, total)
}

/// Block-wide sum.
#[inline(always)]
pub unsafe fn sum_u32(v: u32, scratch: u32) -> u32 {
    unsafe { scan_u32(v, scratch).1 }
}
