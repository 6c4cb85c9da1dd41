//! Small kernels outside the MoE layer: the GPU smoke test and the copy used to measure local and
//! peer bandwidth (`flashmoe info`).

use crate::ptx::{copy, sync, time};
use crate::util::{block_dim, block_idx, grid_dim, thread_idx};

/// out[i] = a·x[i] + y[i] for i < n, and `stamp[0..2]` = %globaltimer before and after, written
/// with a release store: exercises loads, stores, the timer and the sync wrappers.
///
/// # Safety
/// `x`, `y`, `out` hold `n` f32; `stamp` holds 2 u64.
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn smoke_axpy(a: f32, x: *const f32, y: *const f32, out: *mut f32, n: u32, stamp: *mut u64) {
    let t0 = time::global_timer_ns();
    let stride = grid_dim() * block_dim();
    let mut i = block_idx() * block_dim() + thread_idx();
    while i < n {
        // SAFETY: i < n.
        unsafe { *out.add(i as usize) = a * *x.add(i as usize) + *y.add(i as usize) };
        i += stride;
    }
    if block_idx() == 0 && thread_idx() == 0 {
        // SAFETY: stamp holds two words.
        unsafe {
            sync::st_release_gpu_u64(stamp, t0);
            sync::st_release_gpu_u64(stamp.add(1), time::global_timer_ns());
        }
    }
}

/// Copies `n16` 16-byte vectors from `src` to `dst` (which may be a peer GPU's memory), grid-stride.
///
/// # Safety
/// Both buffers hold `n16 * 16` bytes, 16-byte aligned.
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn copy_v4(src: *const u8, dst: *mut u8, n16: u64) {
    let stride = (grid_dim() * block_dim()) as u64;
    let mut i = (block_idx() * block_dim() + thread_idx()) as u64;
    while i < n16 {
        // SAFETY: i < n16.
        unsafe { copy::st_v4(dst.add(i as usize * 16), copy::ld_nc_v4(src.add(i as usize * 16))) };
        i += stride;
    }
}
