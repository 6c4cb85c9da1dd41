//! The epilogue: accumulators go to shared memory as raw f32 (a short unrolled store sequence
//! that needs no extra registers), then a compact loop applies bias / activation / gating, narrows
//! to the output dtype and writes 16-byte vectors to wherever each row goes (local staging, a
//! peer's combine slot, gate logits).

use super::element::Element;
use super::mainloop::{Acc, position};
#[cfg(target_feature = "sm_90a")]
use crate::group::Group;
use crate::layout::TILE_M;
use crate::ptx::{copy, sync};
use crate::util::thread_idx;

/// Bytes between rows of the staged f32 tile (padding spreads rows over banks).
const STRIDE: u32 = 128 * 4 + 16;
/// Shared offset (from the pipeline base) of the 128 output row addresses, past the tile.
const ROW_POINTERS: u32 = TILE_M * STRIDE;

/// Stages the tile's accumulators (laid out as `E`'s MMA path left them) in shared memory (the
/// idle pipeline), row-major f32.
///
/// # Safety
/// All threads call it after the mainloop.
#[inline(always)]
pub unsafe fn stage<E: Element>(smem: u32, acc: &Acc) {
    unroll!(4, i, {
        unroll!(8, j, {
            let (row, col) = position::<E>(i as u32, j as u32, 0);
            let at = smem + row * STRIDE + col * 4;
            unsafe {
                copy::st_shared_v2(at, acc[i][j][0].to_bits(), acc[i][j][1].to_bits());
                copy::st_shared_v2(at + 8 * STRIDE, acc[i][j][2].to_bits(), acc[i][j][3].to_bits());
            }
        });
    });
}

/// Writes rows `[0, rows)`, columns `[0, cols_valid)` of the staged tile as `O`:
/// `out[r][c] = value(c, x, g)` with x the staged value at column c (or, gated, at the W1 column
/// of output c, and g its W3 partner 32 columns later). `row_dest(r)` is where output row r
/// starts. Ends with a block barrier (the pipeline memory is free again).
///
/// # Safety
/// All threads call it after [`stage`]; destinations hold the written bytes (16-byte aligned).
#[inline(always)]
pub unsafe fn emit<O: Element>(
    smem: u32,
    gated: bool,
    rows: u32,
    cols_valid: u32,
    value: impl Fn(u32, f32, f32) -> f32,
    row_dest: impl Fn(u32) -> *mut u8,
) {
    let tid = thread_idx();
    let ptrs = smem + ROW_POINTERS;
    if tid < TILE_M {
        let p = if tid < rows { row_dest(tid) as u64 } else { 0 };
        unsafe { copy::st_shared_v2(ptrs + tid * 8, p as u32, (p >> 32) as u32) };
    }
    sync::sync_threads();
    let per_vec = O::PER_VEC as u32;
    let out_cols = if gated { 64 } else { 128 };
    let vecs_per_row = out_cols / per_vec;
    let valid_vecs = cols_valid.div_ceil(per_vec);
    let mut idx = tid;
    while idx < rows * vecs_per_row {
        let (row, v) = (idx / vecs_per_row, idx % vecs_per_row);
        if v < valid_vecs {
            let mut out = [0.0f32; 8];
            unroll!(8, e, {
                if e < O::PER_VEC {
                    let c = v * per_vec + e as u32;
                    // Gated: output c is warp column (c / 32) * 64 + c % 32, its W3 partner + 32.
                    let src = if gated { (c / 32) * 64 + c % 32 } else { c };
                    let at = smem + row * STRIDE + src * 4;
                    let x = f32::from_bits(unsafe { copy::ld_shared_u32(at) });
                    let g = if gated { f32::from_bits(unsafe { copy::ld_shared_u32(at + 128) }) } else { 0.0 };
                    out[e] = value(c, x, g);
                }
            });
            let lo = unsafe { copy::ld_shared_u32(ptrs + row * 8) } as u64;
            let hi = unsafe { copy::ld_shared_u32(ptrs + row * 8 + 4) } as u64;
            let dst = ((hi << 32) | lo) as *mut u8;
            unsafe { copy::st_v4(dst.add((v * 16) as usize), O::pack(&out)) };
        }
        idx += TILE_M;
    }
    sync::sync_threads();
}

/// The warp-specialized consumer's epilogue, in two 64-row halves through `staging` (64 rows of
/// f32 at [`STRIDE`], so the accumulators leave registers with plain stores and no value needs
/// more registers): rows `[0, rows)`, columns `[0, cols_valid)` of `out[r][c] = value(c, x, g)`
/// as in [`emit`], row r at `row_dest(r)`. Every barrier is `g`'s; ends with one (the staging
/// buffer is free again).
///
/// # Safety
/// Every thread of consumer group `g` after its mainloop; destinations hold the written bytes.
#[cfg(target_feature = "sm_90a")]
#[inline(always)]
pub unsafe fn store<O: Element>(
    g: &Group,
    staging: u32,
    acc: &Acc,
    gated: bool,
    rows: u32,
    cols_valid: u32,
    value: impl Fn(u32, f32, f32) -> f32,
    row_dest: impl Fn(u32) -> *mut u8,
) {
    let per_vec = O::PER_VEC as u32;
    let vecs_per_row = if gated { 64 } else { 128 } / per_vec;
    let valid_vecs = cols_valid.div_ceil(per_vec);
    unroll!(2, h, {
        if (h as u32) * 64 < rows {
            // wgmma layout: acc[2h..2h+2] hold rows 64h.. of the tile.
            unroll!(2, i2, {
                unroll!(8, j, {
                    let i = 2 * h + i2;
                    let (row, col) = position::<O>(i as u32, j as u32, 0);
                    let at = staging + (row - 64 * h as u32) * STRIDE + col * 4;
                    unsafe {
                        copy::st_shared_v2(at, acc[i][j][0].to_bits(), acc[i][j][1].to_bits());
                        copy::st_shared_v2(at + 8 * STRIDE, acc[i][j][2].to_bits(), acc[i][j][3].to_bits());
                    }
                });
            });
            g.sync();
            let half_rows = (rows - 64 * h as u32).min(64);
            let mut idx = g.tid;
            while idx < half_rows * vecs_per_row {
                let (row, v) = (idx / vecs_per_row, idx % vecs_per_row);
                if v < valid_vecs {
                    let mut out = [0.0f32; 8];
                    unroll!(8, e, {
                        if e < O::PER_VEC {
                            let c = v * per_vec + e as u32;
                            // Gated: output c is warp column (c / 32) * 64 + c % 32, its W3 partner + 32.
                            let src = if gated { (c / 32) * 64 + c % 32 } else { c };
                            let at = staging + row * STRIDE + src * 4;
                            let x = f32::from_bits(unsafe { copy::ld_shared_u32(at) });
                            let gate = if gated { f32::from_bits(unsafe { copy::ld_shared_u32(at + 128) }) } else { 0.0 };
                            out[e] = value(c, x, gate);
                        }
                    });
                    let dst = row_dest(row + 64 * h as u32);
                    unsafe { copy::st_v4(dst.add((v * 16) as usize), O::pack(&out)) };
                }
                idx += TILE_M;
            }
            g.sync();
        }
    });
}
