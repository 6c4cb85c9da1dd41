//! Block-wide scans and reductions over the 4 warps (128 threads). Every thread must call them.

use crate::ptx::{copy, sync, warp};
use crate::util::thread_idx;

/// The step both scans share: the lane holding warp `w`'s total (`writer`) publishes it, then
/// every thread gets the totals of the warps before its own and of the whole block. Ends with a
/// barrier, so `scratch` may be reused at once.
#[inline(always)]
unsafe fn across_warps(writer: bool, warp_total: u32, w: u32, scratch: u32) -> (u32, u32) {
    if writer {
        unsafe { copy::st_shared_u32(scratch + w * 4, warp_total) };
    }
    sync::sync_threads();
    let (mut before, mut total) = (0, 0);
    for i in 0..4 {
        let c = unsafe { copy::ld_shared_u32(scratch + i * 4) };
        before += if i < w { c } else { 0 };
        total += c;
    }
    sync::sync_threads();
    (before, total)
}

/// Exclusive prefix count of `pred` in thread order, and the block total. `scratch` holds 4 words.
#[inline(always)]
pub unsafe fn scan_flag(pred: bool, scratch: u32) -> (u32, u32) {
    let tid = thread_idx();
    let (w, lane) = (tid / 32, tid % 32);
    let (below, in_warp) = warp::scan_flag(pred, lane);
    let (before, total) = unsafe { across_warps(lane == 0, in_warp, w, scratch) };
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
    let (before, total) = unsafe { across_warps(lane == 31, inclusive, w, scratch) };
    (before + inclusive - v, total)
}

/// Block-wide sum.
#[inline(always)]
pub unsafe fn sum_u32(v: u32, scratch: u32) -> u32 {
    unsafe { scan_u32(v, scratch).1 }
}
