//! The GPU-resident operating system of the kernel. Block 0 is the OS block: warp 0 schedules
//! (the shared expert's GEMM0 tasks at once, combine and termination), warps 1..3 subscribe
//! (turn arrived dispatch tiles into row tiles and their GEMM0 tasks). Every other block is a
//! processor.

pub mod processor;
pub mod queue;
pub mod scheduler;
pub mod subscriber;
#[cfg(target_feature = "sm_90a")]
pub mod ws;

use crate::block;
use crate::fault::Deadline;
use crate::layout::{MoeParams, gate_chunks, gemm1_tiles};
use crate::ptx::{copy, sync};
use crate::smem::SCAN_A;
use crate::util::thread_idx;
use queue::Queue;

/// OS state in the OS block's (idle) pipeline memory, shared by scheduler and subscribers.
pub mod state {
    /// Local experts whose every row tile has been formed.
    pub const EXPERTS_DONE: u32 = 0;
    /// Expert-output rows x GEMM1 column tiles this GPU's tokens get back.
    pub const RETURNS_EXPECTED: u32 = 4;
    /// Per (source GPU, local expert) pair: rows it sends (UNKNOWN until its tile-0 flag).
    pub const PAIR_ROUTED: u32 = 64;
    /// Per pair: next tile to wait for.
    pub const PAIR_NEXT: u32 = PAIR_ROUTED + 4 * 256;
    /// Per local expert: whether its last row tile is formed.
    pub const EXPERT_DONE: u32 = PAIR_NEXT + 4 * 256;
    /// Per local expert: the partial tile being merged (segments, rows, and per segment pair,
    /// first slot, rows, 8 each).
    pub const MERGE_SEGMENTS: u32 = EXPERT_DONE + 4 * 256;
    pub const MERGE_ROWS: u32 = MERGE_SEGMENTS + 4 * 256;
    pub const MERGE_PAIR: u32 = MERGE_ROWS + 4 * 256;
    pub const MERGE_SLOT: u32 = MERGE_PAIR + 32 * 256;
    pub const MERGE_N: u32 = MERGE_SLOT + 32 * 256;
    /// Per pair, set by the lane that owns the pair for the lane that owns its expert: the
    /// partial last tile (first slot, rows; rows 0 if none), then "complete" (released).
    pub const PAIR_PARTIAL_SLOT: u32 = MERGE_N + 32 * 256;
    pub const PAIR_PARTIAL_ROWS: u32 = PAIR_PARTIAL_SLOT + 4 * 256;
    pub const PAIR_COMPLETE: u32 = PAIR_PARTIAL_ROWS + 4 * 256;
    /// Timeline milestones recorded once by whichever subscriber gets there first (a word each,
    /// claimed by compare-and-swap): see `layout::timeline::OS_FIRST_FLAG`.
    pub const MARKED: u32 = PAIR_COMPLETE + 4 * 256;
    pub const END: u32 = MARKED + 4 * 2;
    pub const UNKNOWN: u32 = u32::MAX;
    const _: () = assert!(END <= crate::layout::PIPELINE_BYTES);
}

/// Runs the OS block.
///
/// # Safety
/// Block 0 only, all threads, after the gate's grid barriers.
#[inline(never)]
pub unsafe fn run(p: &MoeParams, smem: u32, dl: &Deadline) {
    let q = &Queue::new(p);
    let tid = thread_idx();
    // What this GPU's tokens will get back: every kept row, once per GEMM1 column tile.
    let counts = (p.workspace + p.ws.chunk_counts) as *const u32;
    let mut kept = 0;
    let mut e = tid;
    while e < p.experts {
        let mut routed = 0;
        for c in 0..gate_chunks(p.tokens) {
            routed += unsafe { *counts.add((c * p.experts + e) as usize) };
        }
        kept += routed.min(p.capacity);
        e += 128;
    }
    let mut pair = tid;
    while pair < p.world * p.local_experts {
        unsafe {
            copy::st_shared_u32(smem + state::PAIR_ROUTED + pair * 4, state::UNKNOWN);
            copy::st_shared_u32(smem + state::PAIR_NEXT + pair * 4, 0);
            copy::st_shared_u32(smem + state::PAIR_PARTIAL_ROWS + pair * 4, 0);
            copy::st_shared_u32(smem + state::PAIR_COMPLETE + pair * 4, 0);
        }
        pair += 128;
    }
    let mut le = tid;
    while le < p.local_experts {
        for w in [state::EXPERT_DONE, state::MERGE_SEGMENTS, state::MERGE_ROWS] {
            unsafe { copy::st_shared_u32(smem + w + le * 4, 0) };
        }
        le += 128;
    }
    let kept = unsafe { block::sum_u32(kept, smem + SCAN_A) };
    if tid == 0 {
        unsafe {
            copy::st_shared_u32(smem + state::EXPERTS_DONE, 0);
            copy::st_shared_u32(smem + state::MARKED, 0);
            copy::st_shared_u32(smem + state::MARKED + 4, 0);
            // The shared expert's rows (every token, kept or dropped) come back the same way.
            let shared_rows = if p.has_shared() { p.tokens } else { 0 };
            copy::st_shared_u32(smem + state::RETURNS_EXPECTED, (kept + shared_rows) * gemm1_tiles(p.hidden, p.tile_n()) * p.task_parts());
        }
    }
    sync::sync_threads();
    // From here the warps go their own ways: no more block barriers in this block.
    if tid < 32 {
        unsafe { scheduler::run(p, smem, q, dl) };
    } else {
        unsafe { subscriber::run(p, smem, q, dl, tid - 32, 96) };
    }
}
