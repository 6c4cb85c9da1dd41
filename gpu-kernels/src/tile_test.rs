//! A standalone GEMM-tile kernel: one block computes `out = A[rows]·Bᵀ` for one 128x128 tile with
//! the fused kernel's own mainloop and epilogue (whichever MMA path the element type selects), so
//! each path is checked against the CPU on odd shapes and gathered rows apart from the fused
//! kernel: a wrong fragment layout or swizzle shows up here as a wrong element, not as a bad
//! forward.

use core::intrinsics::gpu::gpu_launch_sized_workgroup_mem;

use crate::gemm::element::{Bf16, Element, F32};
use crate::gemm::epilogue;
use crate::gemm::mainloop::{Rows, mainloop, zero_acc};
use crate::ptx::{copy, sync};
use crate::smem::A_ROWS;
use crate::util::thread_idx;

#[repr(C, align(1024))]
struct SharedBase(u8);

/// Rows `rows[0..n_rows]` of A (`lda` bytes apart) times the first `n_cols` rows of B (`ldb`
/// bytes apart), K = `k_bytes`; output row r (E-typed, `n_cols` values) at `out + r·ldo`.
#[inline(always)]
unsafe fn tile<E: Element>(
    a: *const u8,
    rows: *const u32,
    n_rows: u32,
    lda: u64,
    b: *const u8,
    n_cols: u32,
    ldb: u64,
    k_bytes: u32,
    out: *mut u8,
    ldo: u64,
) {
    let base = gpu_launch_sized_workgroup_mem::<SharedBase>() as *mut u8;
    let smem = copy::smem_addr(base);
    let tid = thread_idx();
    if tid < n_rows {
        let row = a.wrapping_add((unsafe { *rows.add(tid as usize) } as u64 * lda) as usize) as u64;
        unsafe { copy::st_shared_v2(smem + A_ROWS + tid * 8, row as u32, (row >> 32) as u32) };
    }
    sync::sync_threads();
    let a_rows = Rows::gathered(smem + A_ROWS, 0, n_rows);
    let b_rows = Rows::new(b, ldb, n_cols);
    let mut acc = zero_acc();
    unsafe {
        mainloop::<E>(smem, &a_rows, &b_rows, k_bytes, &mut acc);
        epilogue::stage::<E>(smem, &acc);
        epilogue::emit::<E>(smem, false, n_rows, n_cols, |_, x, _| x, |r| out.wrapping_add((r as u64 * ldo) as usize));
    }
}

/// One bf16 tile on the build's default path (wgmma on sm_90a, mma.sync on sm_80).
///
/// # Safety
/// One block of 128 threads with `layout::SHARED_BYTES` of dynamic shared memory; `rows` holds
/// `n_rows <= 128` row indices of A; A and B rows hold `k_bytes` (a multiple of 128); `out` holds
/// `n_rows` rows of `ldo` bytes, `ldo >= n_cols` rounded up to 8 values.
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn gemm_tile_bf16(
    a: *const u8,
    rows: *const u32,
    n_rows: u32,
    lda: u64,
    b: *const u8,
    n_cols: u32,
    ldb: u64,
    k_bytes: u32,
    out: *mut u8,
    ldo: u64,
) {
    unsafe { tile::<Bf16>(a, rows, n_rows, lda, b, n_cols, ldb, k_bytes, out, ldo) }
}

/// [`gemm_tile_bf16`] on the mma.sync path of the sm_90a build.
///
/// # Safety
/// As [`gemm_tile_bf16`].
#[cfg(target_feature = "sm_90a")]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn gemm_tile_bf16_mma_sync(
    a: *const u8,
    rows: *const u32,
    n_rows: u32,
    lda: u64,
    b: *const u8,
    n_cols: u32,
    ldb: u64,
    k_bytes: u32,
    out: *mut u8,
    ldo: u64,
) {
    unsafe { tile::<crate::gemm::element::SyncMma<Bf16>>(a, rows, n_rows, lda, b, n_cols, ldb, k_bytes, out, ldo) }
}

/// [`gemm_tile_bf16`] with f32 storage on tf32 tensor cores.
///
/// # Safety
/// As [`gemm_tile_bf16`] (K counted in bytes: 32 f32 per 128).
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn gemm_tile_f32(
    a: *const u8,
    rows: *const u32,
    n_rows: u32,
    lda: u64,
    b: *const u8,
    n_cols: u32,
    ldb: u64,
    k_bytes: u32,
    out: *mut u8,
    ldo: u64,
) {
    unsafe { tile::<F32>(a, rows, n_rows, lda, b, n_cols, ldb, k_bytes, out, ldo) }
}
