//! Thread and block indices.

use core::arch::nvptx;

/// Thread index in the block (x).
#[inline(always)]
pub fn thread_idx() -> u32 {
    // SAFETY: reading a special register.
    unsafe { nvptx::_thread_idx_x() as u32 }
}

/// Block index in the grid (x).
#[inline(always)]
pub fn block_idx() -> u32 {
    // SAFETY: reading a special register.
    unsafe { nvptx::_block_idx_x() as u32 }
}

/// Blocks in the grid (x).
#[inline(always)]
pub fn grid_dim() -> u32 {
    // SAFETY: reading a special register.
    unsafe { nvptx::_grid_dim_x() as u32 }
}

/// Threads in a block (x).
#[inline(always)]
pub fn block_dim() -> u32 {
    // SAFETY: reading a special register.
    unsafe { nvptx::_block_dim_x() as u32 }
}
