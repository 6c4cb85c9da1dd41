//! The GPU-resident operating system of the kernel. Block 0 is the OS block: warp 0 schedules
//! (combine and termination), warps 1..3 subscribe (turn arrived dispatch tiles into GEMM tasks,
//! count returned expert outputs). Every other block is a processor.

pub mod processor;
pub mod queue;
pub mod scheduler;
pub mod subscriber;

use crate::block;
use crate::fault::Deadline;
use crate::layout::{MoeParams, gate_chunks, row_tiles};
use crate::ptx::{copy, sync};
use crate::smem::SCAN_A;
use crate::util::thread_idx;
use queue::Queue;

/// OS state in the OS block's (idle) pipeline memory, shared by scheduler and subscribers.
pub mod state {
    /// Counters, one word each.
    pub const PAIRS_KNOWN: u32 = 0;
    pub const ROWS_TOTAL: u32 = 4;
    pub const ROWS_PUBLISHED: u32 = 8;
    pub const RETURNS_SEEN: u32 = 12;
    pub const RETURNS_EXPECTED: u32 = 16;
    /// Per (source GPU, local expert) pair: row tiles it sends (UNKNOWN until its tile-0 flag).
    pub const PAIR_TILES: u32 = 64;
    /// Per pair: next tile to wait for.
    pub const PAIR_NEXT: u32 = PAIR_TILES + 4 * 256;
    /// Per global expert: row tiles of this GPU's tokens it returns.
    pub const RETURN_TILES: u32 = PAIR_NEXT + 4 * 256;
    /// Per global expert: next returned tile to wait for.
    pub const RETURN_NEXT: u32 = RETURN_TILES + 4 * 256;
    pub const UNKNOWN: u32 = u32::MAX;
}

/// Runs the OS block.
///
/// # Safety
/// Block 0 only, all threads, after the gate's grid barrier.
#[inline(never)]
pub unsafe fn run(p: &MoeParams, smem: u32, q: &Queue, dl: &Deadline) {
    let tid = thread_idx();
    // What this GPU's tokens will get back: per expert, the row tiles of kept pairs.
    let counts = (p.workspace + p.ws.chunk_counts) as *const u32;
    let mut expected = 0;
    let mut e = tid;
    while e < p.experts {
        let mut routed = 0;
        for c in 0..gate_chunks(p.tokens) {
            routed += unsafe { *counts.add((c * p.experts + e) as usize) };
        }
        let tiles = row_tiles(routed.min(p.capacity));
        expected += tiles;
        unsafe {
            copy::st_shared_u32(smem + state::RETURN_TILES + e * 4, tiles);
            copy::st_shared_u32(smem + state::RETURN_NEXT + e * 4, 0);
        }
        e += 128;
    }
    let mut pair = tid;
    while pair < p.world * p.local_experts {
        unsafe {
            copy::st_shared_u32(smem + state::PAIR_TILES + pair * 4, state::UNKNOWN);
            copy::st_shared_u32(smem + state::PAIR_NEXT + pair * 4, 0);
        }
        pair += 128;
    }
    let expected = unsafe { block::sum_u32(expected, smem + SCAN_A) };
    if tid == 0 {
        for w in [state::PAIRS_KNOWN, state::ROWS_TOTAL, state::ROWS_PUBLISHED, state::RETURNS_SEEN] {
            unsafe { copy::st_shared_u32(smem + w, 0) };
        }
        unsafe { copy::st_shared_u32(smem + state::RETURNS_EXPECTED, expected) };
    }
    sync::sync_threads();
    // From here the warps go their own ways: no more block barriers in this block.
    if tid < 32 {
        unsafe { scheduler::run(p, smem, q, dl) };
    } else {
        unsafe { subscriber::run(p, smem, q, dl, tid - 32, 96) };
    }
}
