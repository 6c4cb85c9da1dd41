//! The scheduler warp: first publishes the shared expert's GEMM0 tasks (its row tiles need no
//! routing, so they overlap the dispatch wait), then starts the combine once every expert
//! output for this GPU's tokens has come back (the returned-rows word peers and the shared
//! expert's GEMM1 add to), and ends the launch once every row tile (the shared ones included)
//! is formed and has its GEMM1 tasks queued: then it publishes one exit task per processor.
//! Lane 0 decides; the warp publishes.

use super::queue::Queue;
use super::state;
use crate::fault::{self, Deadline};
use crate::layout::{
    FaultKind, MoeParams, NONE, TILE_N, Task, TaskKind, WaitKind, combine_tasks, gemm0_tiles, shared_gemm0_task, shared_tiles, timeline,
};
use crate::ptx::{copy, sync, time, warp};
use crate::util::grid_dim;

/// Publishes `n` tasks with the whole warp: one reservation, then task `make(i)` in slot
/// `first + i`, lane `i % 32` writing it.
#[inline(always)]
unsafe fn publish_all(p: &MoeParams, q: &Queue, n: u32, lane: u32, make: impl Fn(u32) -> Task) {
    let first = warp::shfl_idx_u32(if lane == 0 { unsafe { q.reserve(n) } } else { 0 }, 0);
    let mut i = lane;
    while i < n {
        unsafe { q.publish_or_fail(p, first + i, &make(i)) };
        i += 32;
    }
}

/// Publishes the GEMM0 tasks of every shared-expert row tile ([`shared_gemm0_task`]).
#[inline(always)]
unsafe fn publish_shared(p: &MoeParams, q: &Queue, lane: u32) {
    let n = shared_tiles(p) * gemm0_tiles(p.shared_inter, true, TILE_N);
    if n > 0 {
        unsafe { publish_all(p, q, n, lane, |i| shared_gemm0_task(p, i)) };
    }
}

/// Runs the scheduler warp until every task of the launch is published.
///
/// # Safety
/// Warp 0 of the OS block, after its setup barrier.
pub unsafe fn run(p: &MoeParams, smem: u32, q: &Queue, dl: &Deadline) {
    let lane = warp::lane_id();
    let ctl = fault::control(p);
    let expected_returns = unsafe { copy::ld_shared_u32(smem + state::RETURNS_EXPECTED) };
    unsafe { publish_shared(p, q, lane) };
    // Row tiles whose GEMM1 tasks must be queued besides the experts' (formed by subscribers).
    let shared = shared_tiles(p);
    let mut combine_published = false;
    let mut tiles_formed = false;
    loop {
        // Lane 0 decides for the warp (lanes must not diverge before the shuffles):
        // 0: keep waiting, 1: publish combine, 2: publish exits, 3: stop (aborted or timed out).
        let mut step = 0u32;
        if lane == 0 {
            // Experts first: once all are done, the tile count read next is final.
            let done = unsafe { sync::ld_acquire_cta_shared_u32(smem + state::EXPERTS_DONE) } == p.local_experts;
            let (tiles, gemm1_tiles) = unsafe {
                (sync::ld_acquire_gpu_u32(&raw const (*ctl).tiles), sync::ld_acquire_gpu_u32(&raw const (*ctl).gemm1_rows_published))
            };
            let returned = unsafe { sync::ld_acquire_sys_u32(&raw const (*ctl).returned_rows) };
            // Rows owners reached by puts returned (NVSHMEM signals).
            #[cfg(feature = "nvshmem")]
            let returned = returned + unsafe { sync::ld_acquire_sys_u64(&raw const (*ctl).returned_put) } as u32;
            if done && !tiles_formed {
                fault::mark_now(p, timeline::DISPATCH_DONE);
                tiles_formed = true;
            }
            step = if unsafe { fault::aborted(p, ctl) } {
                unsafe { fault::stopped(p) };
                3
            } else if returned > expected_returns {
                unsafe { fault::fault(p, FaultKind::ReturnedRows as u32, returned as u64, expected_returns as u64) };
                3
            } else if !combine_published && returned == expected_returns {
                1
            } else if combine_published && done && gemm1_tiles == tiles + shared {
                2
            } else if time::global_timer_ns() > dl.secondary {
                let (kind, observed) = if returned != expected_returns {
                    (WaitKind::ReturnedRows as u32, ((returned as u64) << 32) | expected_returns as u64)
                } else {
                    (WaitKind::Termination as u32, (((tiles + shared) as u64) << 32) | gemm1_tiles as u64)
                };
                unsafe { fault::timeout(p, kind, NONE, NONE, NONE, observed) };
                3
            } else {
                0
            };
        }
        match warp::shfl_idx_u32(step, 0) {
            1 => {
                unsafe {
                    publish_all(p, q, combine_tasks(p.tokens), lane, |i| Task {
                        kind: TaskKind::Combine as u32,
                        tile: i,
                        ..Task::default()
                    })
                };
                fault::mark_now(p, timeline::FIRST_TASK);
                combine_published = true;
            }
            2 => {
                unsafe { publish_all(p, q, grid_dim() - 1, lane, |i| Task { kind: TaskKind::Exit as u32, tile: i, ..Task::default() }) };
                fault::mark_now(p, timeline::LAST_TASK);
                return;
            }
            3 => return,
            _ => time::nanosleep(128),
        }
    }
}
