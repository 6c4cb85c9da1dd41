//! The epilogue: accumulators go to shared memory as raw f32 (a short unrolled store sequence
//! that needs no extra registers), then a compact loop applies bias / activation / gating, narrows
//! to the output dtype and writes 16-byte vectors to wherever each row goes (local staging, a
//! peer's combine slot, gate logits).

use super::element::{Element, Mma};
#[cfg(target_feature = "sm_90a")]
use super::mainloop::WsLoop;
use super::mainloop::{Acc, TileLoop};
#[cfg(target_feature = "sm_90a")]
use crate::group::Group;
use core::mem::{offset_of, size_of};

use crate::layout::TILE_M;
use crate::ptx::{copy, sync};
use crate::util::thread_idx;

/// The staged tile in the (idle) pipeline memory: 128 rows of 128 f32, each padded by 16 bytes
/// (the padding spreads rows over banks), then the 128 output row addresses.
#[repr(C)]
struct Staged {
    rows: [[u32; 128 + 4]; TILE_M as usize],
    row_pointers: [u64; TILE_M as usize],
}

/// Bytes between rows of the staged tile.
const STRIDE: u32 = size_of::<[u32; 128 + 4]>() as u32;
/// Shared offset (from the pipeline base) of the output row addresses.
const ROW_POINTERS: u32 = offset_of!(Staged, row_pointers) as u32;
const _: () = assert!(size_of::<Staged>() as u32 <= crate::layout::PIPELINE_BYTES);

/// Stages the tile's accumulators (laid out as `E`'s MMA path left them) in shared memory (the
/// idle pipeline), row-major f32.
///
/// # Safety
/// All threads call it after the mainloop.
#[inline(always)]
pub unsafe fn stage<E: Mma>(smem: u32, acc: &Acc) {
    unroll!(4, i, {
        unroll!(8, j, {
            let (row, col) = E::Loop::position(i as u32, j as u32, 0);
            let at = smem + row * STRIDE + col * 4;
            unsafe {
                copy::st_shared_v2(at, acc[i][j][0].to_bits(), acc[i][j][1].to_bits());
                copy::st_shared_v2(at + 8 * STRIDE, acc[i][j][2].to_bits(), acc[i][j][3].to_bits());
            }
        });
    });
}

/// Stages four f32 values at row `row`, columns `col..col + 4` of the tile [`emit`] reads (a
/// tile summed elsewhere, e.g. from K-split partials); `emit`'s opening barrier orders them.
///
/// # Safety
/// `row` < 128 and `col + 4` <= 128; the pipeline memory is idle.
#[inline(always)]
pub unsafe fn stage_vec(smem: u32, row: u32, col: u32, v: &[f32; 4]) {
    let at = smem + row * STRIDE + col * 4;
    unsafe {
        copy::st_shared_v2(at, v[0].to_bits(), v[1].to_bits());
        copy::st_shared_v2(at + 8, v[2].to_bits(), v[3].to_bits());
    }
}

/// The staged tile's value at (`row`, `col`), as bits.
///
/// # Safety
/// `row`, `col` < 128, after [`stage`] and a block barrier.
#[inline(always)]
pub unsafe fn staged_bits(smem: u32, row: u32, col: u32) -> u32 {
    unsafe { copy::ld_shared_u32(smem + row * STRIDE + col * 4) }
}

/// Writes rows `[0, rows)`, columns `[0, cols_valid)` of the staged tile as `O`, one 16-byte
/// vector of `O::PER_VEC` outputs at a time: `out[r][c..] = value(c, x, g)` (x in place) with x
/// the staged values at those columns (or, gated, at the W1 columns of outputs c.., and g their
/// W3 partners 32 columns later). `row_dest(r)` is where output row r starts. Vector loads from
/// the tile and one call of `value` per vector (per element, the scalar loads and addressing
/// were most of the ws engine's epilogue: perf log v18). Ends with a block barrier (the pipeline
/// memory is free again).
///
/// # Safety
/// All threads call it after [`stage`]; destinations hold the written bytes (16-byte aligned).
#[inline(always)]
pub unsafe fn emit<O: Element>(
    smem: u32,
    gated: bool,
    rows: u32,
    cols_valid: u32,
    value: impl Fn(u32, &mut [f32; 8], &[f32; 8]),
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
    // Vectors per row: a power of two.
    let shift = (out_cols / per_vec).trailing_zeros();
    let valid_vecs = cols_valid.div_ceil(per_vec);
    let mut idx = tid;
    while idx < rows << shift {
        let (row, v) = (idx >> shift, idx & ((1 << shift) - 1));
        if v < valid_vecs {
            let c = v * per_vec;
            // Gated: output c is warp column (c / 32) * 64 + c % 32, its W3 partner + 32.
            let src = if gated { (c / 32) * 64 + c % 32 } else { c };
            let at = smem + row * STRIDE + src * 4;
            let mut x = unsafe { staged_vec::<O>(at) };
            let g = if gated { unsafe { staged_vec::<O>(at + 128) } } else { [0.0; 8] };
            value(c, &mut x, &g);
            let lo = unsafe { copy::ld_shared_u32(ptrs + row * 8) } as u64;
            let hi = unsafe { copy::ld_shared_u32(ptrs + row * 8 + 4) } as u64;
            let dst = ((hi << 32) | lo) as *mut u8;
            unsafe { copy::st_v4(dst.add((v * 16) as usize), O::pack(&x)) };
        }
        idx += TILE_M;
    }
    sync::sync_threads();
}

/// `O::PER_VEC` staged f32 from `at` (16-byte aligned): one or two vector loads.
///
/// # Safety
/// `at` holds them.
#[inline(always)]
pub unsafe fn staged_vec<O: Element>(at: u32) -> [f32; 8] {
    let lo = unsafe { copy::ld_shared_v4(at) };
    let hi = if O::PER_VEC == 8 { unsafe { copy::ld_shared_v4(at + 16) } } else { [0; 4] };
    f32x8(lo, hi)
}

/// A warp-specialized consumer's staging chunk (`smem::ws::Block::staging`): 64 rows of 32 f32,
/// each padded by 16 bytes.
#[cfg(target_feature = "sm_90a")]
pub type Chunk = [[u32; 32 + 4]; 64];
/// Bytes between rows of a chunk.
#[cfg(target_feature = "sm_90a")]
const CHUNK_STRIDE: u32 = size_of::<[u32; 32 + 4]>() as u32;
/// Bytes of a chunk.
#[cfg(target_feature = "sm_90a")]
pub const CHUNK_BYTES: u32 = size_of::<Chunk>() as u32;

/// The warp-specialized consumer's epilogue: consumer `half`'s 64 rows of a 128x256 tile
/// (accumulators where [`WsLoop`]'s `position` puts them: row `16 warp + lane / 4` (+ 8 for
/// q >= 2), column `8 j + 2 (lane % 4)` (+ 1) of column block j in `acc[j / 8][j % 8]`)
/// as `O` (a 16-bit type): rows `[0, rows)` of the tile, columns `[0, cols_valid)` (a multiple
/// of 32) of `out[r][c..c + 8] = value(c, x, g)` (x in place; `g` the shared address of the
/// staged W3 partners, which a gated `value` loads with [`staged_vec`]), row r at
/// `row_dest(r)`. Gated: output c takes x from W1's column c and g from W3's, 128 columns later
/// (the B tile holds W1's rows, then W3's). Eight passes through `staging` ([`CHUNK_BYTES`]), each 32
/// accumulator columns (16 gated outputs with their partners): the accumulators leave
/// registers with plain stores, then each thread turns whole 16-byte output vectors around
/// (vector loads from the chunk, `value` once per vector: per-element work with scalar loads
/// was a third of the consumers' time, perf log v18). A thread's rows and vector are the same
/// in every pass (no division per vector), and of its own warp's rows (warps meet alone
/// between passes). Ends with a barrier of `g`.
///
/// # Safety
/// Every thread of consumer group `g` after its mainloop; destinations hold the written bytes
/// (16-byte aligned rows).
#[cfg(target_feature = "sm_90a")]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn store<O: Element>(
    g: &Group,
    staging: u32,
    acc: &Acc,
    half: u32,
    gated: bool,
    rows: u32,
    cols_valid: u32,
    value: impl Fn(u32, &mut [f32; 8], u32),
    row_dest: impl Fn(u32) -> *mut u8,
) {
    const { assert!(O::PER_VEC == 8) };
    // Where this thread's first accumulator sits: its row among the consumer's 64, its column in
    // a block of 8 (the others follow from `WsLoop::position`: rows + 8, columns + 1, blocks of 8).
    let (row0, col0) = WsLoop::position(0, 0, 0);
    let (my_row, my_col) = (row0 % 64, col0);
    let half_rows = if rows > 64 * half { (rows - 64 * half).min(64) } else { 0 };
    // A pass holds 4 output vectors per row (gated: 2). Each warp turns around the 16 rows it
    // staged itself, so its lanes meet alone between passes: lane l takes vector `v` of rows
    // `r`, `r + rows_step` of its warp's (ungated: two rows, gated: one). (With the warpgroup
    // meeting twice a pass, ptxas read `%tid.x` again for each barrier's id and the warps waited
    // for each other: a third of the epilogue's stall samples, perf log v26.)
    let shift = if gated { 1 } else { 2 };
    let (warp_rows, lane) = (16 * (g.tid() / 32), g.tid() % 32);
    let (v, r) = (lane & ((1 << shift) - 1), warp_rows + (lane >> shift));
    let rows_step = 32 >> shift;
    let row_end = (warp_rows + 16).min(half_rows);
    let out_cols = if gated { 16 } else { 32 };
    for pass in 0..8u32 {
        // One arm runs, and each knows its accumulators at compile time: with `pass` and
        // `gated` read per store, all 64 were issued, predicated, in every pass (8x the
        // standalone tile's stores, perf log v19). The passes themselves stay a loop: unrolled,
        // the epilogue was 16 copies of the vector loop, ~190 KB of code.
        unroll!(8, arm, {
            if arm as u32 == pass {
                if gated {
                    unsafe { stage_pass::<true>(staging, acc, arm as u32, my_row, my_col) }
                } else {
                    unsafe { stage_pass::<false>(staging, acc, arm as u32, my_row, my_col) }
                }
            }
        });
        crate::ptx::warp::sync_warp();
        let c = pass * out_cols + 8 * v;
        // One vector at a time (unrolled, both vectors' values were live together and spilled).
        let mut row = r;
        while c < cols_valid && row < row_end {
            let at = staging + row * CHUNK_STRIDE + 32 * v;
            let mut x = unsafe { staged_vec::<O>(at) };
            // Gated: the W3 partners sit 16 chunk columns later; `value` loads them when it
            // needs them (loaded here, they were live beside x and its bias, and spilled).
            value(c, &mut x, at + 64);
            unsafe { copy::st_v4(row_dest(64 * half + row).add((c * O::BYTES) as usize), O::pack(&x)) };
            row += rows_step;
        }
        crate::ptx::warp::sync_warp();
    }
    // Every row stored before the caller's fence and release.
    g.sync();
}

/// Stages the accumulator blocks of pass `pass` (a constant where inlined) into the chunk: 8 of
/// the 32 blocks, two 8-byte stores each per thread.
///
/// # Safety
/// `staging` holds a chunk ([`CHUNK_BYTES`]).
#[cfg(target_feature = "sm_90a")]
#[inline(always)]
unsafe fn stage_pass<const GATED: bool>(staging: u32, acc: &Acc, pass: u32, my_row: u32, my_col: u32) {
    // Chunk column of accumulator block 8 i + j in this pass, if it is in it.
    unroll!(4, i, {
        unroll!(8, j, {
            let blk = (8 * i + j) as u32;
            let (in_pass, at) = if GATED {
                let (w, b) = if blk < 16 { (0, blk) } else { (2, blk - 16) };
                (b / 2 == pass, w + b % 2)
            } else {
                (blk / 4 == pass, blk % 4)
            };
            if in_pass {
                let col = 8 * at + my_col;
                let a = &acc[i][j];
                unsafe {
                    copy::st_shared_v2(staging + my_row * CHUNK_STRIDE + col * 4, a[0].to_bits(), a[1].to_bits());
                    copy::st_shared_v2(staging + (my_row + 8) * CHUNK_STRIDE + col * 4, a[2].to_bits(), a[3].to_bits());
                }
            }
        });
    });
}

/// Eight f32 from two 16-byte vectors of raw bits.
#[inline(always)]
pub(crate) fn f32x8(lo: [u32; 4], hi: [u32; 4]) -> [f32; 8] {
    let mut x = [0.0f32; 8];
    unroll!(4, i, {
        x[i] = f32::from_bits(lo[i]);
        x[4 + i] = f32::from_bits(hi[i]);
    });
    x
}
