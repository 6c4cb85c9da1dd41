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

/// OS state in the OS block's (idle) pipeline memory, shared by scheduler and subscribers: the
/// typed layout [`state::State`], addressed by the offsets of its fields.
pub mod state {
    use core::mem::{offset_of, size_of};

    use crate::layout::MAX_SEGMENTS;

    /// Pairs and local experts the state holds (256 each).
    const N: usize = 256;

    #[repr(C)]
    pub struct State {
        /// Local experts whose every row tile has been formed.
        pub experts_done: u32,
        /// Expert-output rows x GEMM1 column tiles this GPU's tokens get back.
        pub returns_expected: u32,
        _pad: [u32; 14],
        /// Per (source GPU, local expert) pair: rows it sends (UNKNOWN until its tile-0 flag).
        pub pair_routed: [u32; N],
        /// Per pair: next tile to wait for.
        pub pair_next: [u32; N],
        /// Per local expert: whether its last row tile is formed.
        pub expert_done: [u32; N],
        /// Per local expert: the partial tile being merged (segments, rows, and per segment
        /// pair, first slot, rows).
        pub merge_segments: [u32; N],
        pub merge_rows: [u32; N],
        pub merge_pair: [[u32; MAX_SEGMENTS]; N],
        pub merge_slot: [[u32; MAX_SEGMENTS]; N],
        pub merge_n: [[u32; MAX_SEGMENTS]; N],
        /// Per pair, set by the lane that owns the pair for the lane that owns its expert: the
        /// partial last tile (first slot, rows; rows 0 if none), then "complete" (released).
        pub pair_partial_slot: [u32; N],
        pub pair_partial_rows: [u32; N],
        pub pair_complete: [u32; N],
        /// Timeline milestones recorded once by whichever subscriber gets there first (a word
        /// each, claimed by compare-and-swap): see `layout::timeline::OS_FIRST_FLAG`.
        pub marked: [u32; 2],
    }

    pub const EXPERTS_DONE: u32 = offset_of!(State, experts_done) as u32;
    pub const RETURNS_EXPECTED: u32 = offset_of!(State, returns_expected) as u32;
    pub const PAIR_ROUTED: u32 = offset_of!(State, pair_routed) as u32;
    pub const PAIR_NEXT: u32 = offset_of!(State, pair_next) as u32;
    pub const EXPERT_DONE: u32 = offset_of!(State, expert_done) as u32;
    pub const MERGE_SEGMENTS: u32 = offset_of!(State, merge_segments) as u32;
    pub const MERGE_ROWS: u32 = offset_of!(State, merge_rows) as u32;
    pub const MERGE_PAIR: u32 = offset_of!(State, merge_pair) as u32;
    pub const MERGE_SLOT: u32 = offset_of!(State, merge_slot) as u32;
    pub const MERGE_N: u32 = offset_of!(State, merge_n) as u32;
    pub const PAIR_PARTIAL_SLOT: u32 = offset_of!(State, pair_partial_slot) as u32;
    pub const PAIR_PARTIAL_ROWS: u32 = offset_of!(State, pair_partial_rows) as u32;
    pub const PAIR_COMPLETE: u32 = offset_of!(State, pair_complete) as u32;
    pub const MARKED: u32 = offset_of!(State, marked) as u32;
    pub const UNKNOWN: u32 = u32::MAX;
    const _: () = assert!(size_of::<State>() as u32 <= crate::layout::PIPELINE_BYTES);
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
