//! The tile mainloop: a 128x128 output tile per block of 4 warps (2x2, 64x64 per warp), K in
//! 128-byte stages fed by a `PIPELINE_STAGES`-deep cp.async pipeline, fragments by ldmatrix,
//! products by mma.sync. K is counted in bytes so one pipeline serves every dtype.
//!
//! Shared layout of a stage: A[128 rows][128 B] then B[128 rows][128 B]; the 16-byte chunk c of
//! row r lives at chunk `c ^ (r % 8)`, so the 8 row addresses of every ldmatrix phase fall in
//! distinct banks.

use super::element::Element;
use crate::layout::{PIPELINE_STAGES, TILE_K_BYTES, TILE_M};
use crate::ptx::{copy, mma, sync};
use crate::util::thread_idx;

/// Bytes of one operand tile in one stage.
const OPERAND_BYTES: u32 = TILE_M * TILE_K_BYTES;
/// Bytes of one stage (A and B).
pub const STAGE_BYTES: u32 = 2 * OPERAND_BYTES;

/// Per-thread accumulators: `acc[i][j]` is the m16n8 fragment at rows `wm·64 + 16i`, columns
/// `wn·64 + 8j` of the tile, for warp (wm, wn) = (warp / 2, warp % 2).
pub type Acc = [[[f32; 4]; 8]; 4];

/// A fresh zeroed accumulator.
#[inline(always)]
pub const fn zero_acc() -> Acc {
    [[[0.0; 4]; 8]; 4]
}

/// The rows of one GEMM operand in global memory, K contiguous.
#[derive(Clone, Copy)]
pub struct Rows {
    /// Row 0.
    pub base: *const u8,
    /// Gated B operand only: W3's row 0. Then rows alternate in groups of 32 between W1 and W3,
    /// so each warp's 64 columns hold 32 W1 columns and the matching 32 W3 columns.
    pub gate_rows: *const u8,
    /// Bytes between rows.
    pub stride: u64,
    /// Rows that exist; later rows of the tile are never loaded (their outputs are never stored).
    pub valid: u32,
}

impl Rows {
    /// Plain row-major rows.
    #[inline(always)]
    pub fn new(base: *const u8, stride: u64, valid: u32) -> Self {
        Rows { base, gate_rows: core::ptr::null(), stride, valid }
    }
}

/// Shared address of chunk `chunk` of row `row` in an operand tile at `tile`.
#[inline(always)]
fn swizzled(tile: u32, row: u32, chunk: u32) -> u32 {
    tile + row * TILE_K_BYTES + ((chunk ^ (row & 7)) << 4)
}

/// What one thread copies of an operand: chunk `tid % 8` of rows `tid / 8 + 16 i`, i < `count`.
/// One base pointer (two when gated) and a 16-row step keep the loader to a few registers.
struct ThreadRows {
    base: *const u8,
    gate: *const u8,
    step: usize,
    count: u32,
    /// Offset of this thread's chunk in an operand tile (same swizzle for every i).
    smem: u32,
}

#[inline(always)]
fn thread_rows(op: &Rows) -> ThreadRows {
    let tid = thread_idx();
    let (r, chunk) = (tid / 8, tid % 8);
    let offset = r as usize * op.stride as usize + chunk as usize * 16;
    ThreadRows {
        base: op.base.wrapping_add(offset),
        gate: op.gate_rows.wrapping_add(offset),
        step: 16 * op.stride as usize,
        count: if op.valid > r { (op.valid - r).div_ceil(16) } else { 0 },
        smem: swizzled(0, r, chunk),
    }
}

/// Issues the cp.async copies of one 128-byte K slice of an operand into the tile at `dst`.
#[inline(always)]
unsafe fn load_operand(dst: u32, t: &ThreadRows, gated: bool, k_offset: u32) {
    unroll!(8, i, {
        if (i as u32) < t.count {
            // Gated B: rows alternate in 32-row groups between W1 and W3 (see `Rows::gate_rows`).
            let src = if gated {
                let base = if (i / 2) % 2 == 0 { t.base } else { t.gate };
                base.wrapping_add(((i / 4) * 2 + i % 2) * t.step)
            } else {
                t.base.wrapping_add(i * t.step)
            };
            unsafe { copy::cp_async_16(dst + t.smem + i as u32 * 16 * TILE_K_BYTES, src.wrapping_add(k_offset as usize)) };
        }
    });
}

/// acc += A·Bᵀ over `k_bytes` (a multiple of 128) for the 128x128 tile; `smem` is the pipeline.
///
/// Warps skip the m16 slices past `a.valid` rows, so small row tiles (decode) cost little more
/// than their weight reads.
///
/// # Safety
/// Every valid row of `a` and `b` holds `k_bytes` readable bytes; all threads of the block call it.
#[inline(always)]
pub unsafe fn mainloop<E: Element>(smem: u32, a: &Rows, b: &Rows, k_bytes: u32, acc: &mut Acc) {
    let tid = thread_idx();
    let (warp, lane) = (tid / 32, tid % 32);
    let (wm, wn) = (warp / 2, warp % 2);
    let m16_valid = a.valid.div_ceil(16);
    let k_tiles = k_bytes / TILE_K_BYTES;
    let stages = PIPELINE_STAGES;
    let (ta, tb) = (thread_rows(a), thread_rows(b));
    let b_gated = !b.gate_rows.is_null();

    for s in 0..stages - 1 {
        if s < k_tiles {
            let base = smem + s * STAGE_BYTES;
            unsafe {
                load_operand(base, &ta, false, s * TILE_K_BYTES);
                load_operand(base + OPERAND_BYTES, &tb, b_gated, s * TILE_K_BYTES);
            }
        }
        copy::cp_async_commit();
    }

    for kt in 0..k_tiles {
        copy::cp_async_wait::<{ PIPELINE_STAGES - 2 }>();
        sync::sync_threads();
        let next = kt + stages - 1;
        if next < k_tiles {
            let base = smem + (next % stages) * STAGE_BYTES;
            unsafe {
                load_operand(base, &ta, false, next * TILE_K_BYTES);
                load_operand(base + OPERAND_BYTES, &tb, b_gated, next * TILE_K_BYTES);
            }
        }
        copy::cp_async_commit();

        let sa = smem + (kt % stages) * STAGE_BYTES;
        let sb = sa + OPERAND_BYTES;
        unroll!(4, ks, {
            let ks = ks as u32;
            let mut af = [[0u32; 4]; 4];
            unroll!(4, i, {
                if wm * 4 + (i as u32) < m16_valid {
                    let row = wm * 64 + i as u32 * 16 + lane % 16;
                    let r = unsafe { mma::ldmatrix_x4(swizzled(sa, row, ks * 2 + lane / 16)) };
                    af[i] = [E::operand(r[0]), E::operand(r[1]), E::operand(r[2]), E::operand(r[3])];
                }
            });
            let mut bf = [[0u32; 2]; 8];
            unroll!(4, jj, {
                let row = wn * 64 + jj as u32 * 16 + lane % 8 + 8 * (lane / 16);
                let r = unsafe { mma::ldmatrix_x4(swizzled(sb, row, ks * 2 + (lane / 8) % 2)) };
                bf[2 * jj] = [E::operand(r[0]), E::operand(r[1])];
                bf[2 * jj + 1] = [E::operand(r[2]), E::operand(r[3])];
            });
            unroll!(4, i, {
                if wm * 4 + (i as u32) < m16_valid {
                    unroll!(8, j, {
                        E::mma(&mut acc[i][j], &af[i], bf[j][0], bf[j][1]);
                    });
                }
            });
        });
    }
    copy::cp_async_wait::<0>();
    sync::sync_threads();
}
