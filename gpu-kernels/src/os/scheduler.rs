//! The scheduler warp: decides when the combine can start (every expert output for this GPU's
//! tokens has come back) and when the queue is complete (every GEMM0, GEMM1 and combine task is
//! published), then publishes one exit task per processor. Lane 0 decides; the warp publishes.

use super::queue::Queue;
use super::state;
use crate::fault::{self, Deadline};
use crate::layout::{MoeParams, NONE, combine_tasks, task_kind, timeline, wait_kind};
use crate::ptx::{copy, sync, time, warp};
use crate::util::grid_dim;

/// Publishes `n` tasks of `kind` (row_tile = index) with the whole warp.
#[inline(always)]
unsafe fn publish_all(q: &Queue, kind: u32, n: u32, lane: u32) {
    let first = warp::shfl_idx_u32(if lane == 0 { unsafe { q.reserve(n) } } else { 0 }, 0);
    let mut i = lane;
    while i < n {
        unsafe { q.publish(first + i, kind, 0, i, 0, 0) };
        i += 32;
    }
}

/// Runs the scheduler warp until every task of the launch is published.
///
/// # Safety
/// Warp 0 of the OS block, after its setup barrier.
pub unsafe fn run(p: &MoeParams, smem: u32, q: &Queue, dl: &Deadline) {
    let lane = warp::lane_id();
    let ctl = fault::control(p);
    let pairs = p.world * p.local_experts;
    let expected_returns = unsafe { copy::ld_shared_u32(smem + state::RETURNS_EXPECTED) };
    let mut combine_published = false;
    let mut pairs_seen = false;
    loop {
        // Lane 0 decides for the warp (lanes must not diverge before the shuffles):
        // 0: keep waiting, 1: publish combine, 2: publish exits, 3: stop (aborted or timed out).
        let mut step = 0u32;
        if lane == 0 {
            let (known, seen) = unsafe {
                (sync::ld_acquire_cta_shared_u32(smem + state::PAIRS_KNOWN), sync::ld_acquire_cta_shared_u32(smem + state::RETURNS_SEEN))
            };
            let (total, published) = unsafe {
                (sync::ld_acquire_cta_shared_u32(smem + state::ROWS_TOTAL), sync::ld_acquire_cta_shared_u32(smem + state::ROWS_PUBLISHED))
            };
            let gemm1_rows = unsafe { sync::ld_acquire_gpu_u32(&raw const (*ctl).gemm1_rows_published) };
            if known == pairs && !pairs_seen {
                fault::mark_now(p, timeline::DISPATCH_DONE);
                pairs_seen = true;
            }
            step = if unsafe { fault::aborted(ctl) } {
                3
            } else if !combine_published && seen == expected_returns {
                1
            } else if combine_published && known == pairs && published == total && gemm1_rows == total {
                2
            } else if time::global_timer_ns() > dl.secondary {
                let observed = ((known as u64) << 48) | ((published as u64) << 32) | ((gemm1_rows as u64) << 16) | seen as u64;
                unsafe { fault::timeout(p, wait_kind::TERMINATION, NONE, NONE, NONE, observed) };
                3
            } else {
                0
            };
        }
        match warp::shfl_idx_u32(step, 0) {
            1 => {
                unsafe { publish_all(q, task_kind::COMBINE, combine_tasks(p.tokens), lane) };
                fault::mark_now(p, timeline::FIRST_TASK);
                combine_published = true;
            }
            2 => {
                unsafe { publish_all(q, task_kind::EXIT, grid_dim() - 1, lane) };
                fault::mark_now(p, timeline::LAST_TASK);
                return;
            }
            3 => return,
            _ => time::nanosleep(128),
        }
    }
}
