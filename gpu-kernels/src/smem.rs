//! Offsets into the block's dynamic shared memory: the GEMM pipeline first, then a small region
//! of words the roles use to broadcast and scan.

use crate::layout::PIPELINE_BYTES;

/// This block's copy of the launch parameters (read by every thread, so kept on chip).
pub const PARAMS: u32 = PIPELINE_BYTES;
/// The current task, 8 words (processors).
pub const TASK: u32 = PARAMS + 512;

const _: () = assert!(core::mem::size_of::<crate::layout::MoeParams>() <= 512);
const _: () = assert!(SCAN_B + 16 <= A_ROWS && FAULT + 32 <= PARAMS + crate::layout::AUX_BYTES);
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
