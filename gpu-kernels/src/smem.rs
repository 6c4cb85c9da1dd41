//! Offsets into the block's dynamic shared memory: the GEMM pipeline first, then a small region
//! of words the roles use to broadcast and scan.

use crate::layout::PIPELINE_BYTES;

/// This block's copy of the launch parameters (read by every thread, so kept on chip).
pub const PARAMS: u32 = PIPELINE_BYTES;
/// The current task, 8 words (processors).
pub const TASK: u32 = PARAMS + 512;

const _: () = assert!(core::mem::size_of::<crate::layout::MoeParams>() <= 512);
const _: () = assert!(SCAN_B + 16 <= A_ROWS && FAULT + 32 <= PARAMS + crate::layout::AUX_BYTES);
/// The static decode plan's row tiles and expected returned rows, 2 words after the task's 6
/// (see `decode`).
pub const STATIC_PLAN: u32 = TASK + 24;
/// One broadcast word.
pub const BROADCAST: u32 = TASK + 32;
/// Scratch for block scans and reductions, two independent sets of 4 words.
pub const SCAN_A: u32 = TASK + 64;
pub const SCAN_B: u32 = TASK + 96;

/// Row tables of the current GEMM task (128 u64 each): operand A rows, and output rows.
pub const A_ROWS: u32 = PARAMS + 640;
pub const OUT_ROWS: u32 = A_ROWS + 128 * 8;

/// A processor's deferred failure (8 words, see `fault::defer`).
pub const FAULT: u32 = OUT_ROWS + 128 * 8;

/// The warp-specialized block's shared memory (`layout::WS_*`): stages 0 and 1 fill the
/// 128-thread pipeline's memory, the rest and everything else follow the aux region.
#[cfg(target_feature = "sm_90a")]
pub mod ws {
    use crate::layout::{TILE_M, WS_STAGE_BYTES, WS_STAGES, WS_STAGING_BYTES, WS_TAIL};

    /// Shared offset of pipeline stage `s` (< `WS_STAGES`).
    #[inline(always)]
    pub fn stage(s: u32) -> u32 {
        if s < 2 { s * WS_STAGE_BYTES } else { WS_TAIL + (s - 2) * WS_STAGE_BYTES }
    }

    /// mbarriers: stage s full, stage s empty, task slot i's full and free.
    pub const FULL: u32 = WS_TAIL + (WS_STAGES - 2) * WS_STAGE_BYTES;
    pub const EMPTY: u32 = FULL + 8 * WS_STAGES;
    pub const TASK_FULL: u32 = EMPTY + 8 * WS_STAGES;
    pub const TASK_FREE: u32 = TASK_FULL + 16;
    /// Task slot i (16 words, see `os::ws`): both consumers read it.
    pub const SLOTS: u32 = FULL + 128;
    /// Slot i's output row table (128 u64).
    pub const OUT_ROWS: u32 = SLOTS + 128;
    /// Consumer c's broadcast words (4).
    pub const WORDS: u32 = OUT_ROWS + 2 * TILE_M * 8;
    /// Set by a consumer that failed: the producer hands out no more tasks.
    pub const STOP: u32 = WORDS + 32;
    /// Warpgroup 0's verdict on the roles (1: run the tasks), for the consumers it starts.
    pub const GO: u32 = STOP + 4;
    /// Consumer c's epilogue staging (`gemm::epilogue::store`).
    pub const STAGING: u32 = STOP + 16;
    pub const END: u32 = STAGING + 2 * WS_STAGING_BYTES;
    const _: () = assert!(WS_STAGING_BYTES == crate::gemm::epilogue::CHUNK_BYTES);
    const _: () = assert!(TASK_FREE + 16 <= SLOTS && END == crate::layout::WS_SHARED_BYTES);
}
