//! The tile mainloops, as policy types ([`TileLoop`]): how a block computes `acc += A·Bᵀ` for
//! one output tile with K in 128-byte stages (K is counted in bytes so one pipeline serves every
//! dtype), in which shared-memory stages, and where each accumulator lands in the tile.
//! - [`SyncLoop`] (sm_80 and later): 128 threads, a 128x128 tile, a `PIPELINE_STAGES`-deep
//!   cp.async pipeline; the 4 warps in 2x2, 64x64 each, mma.sync with ldmatrix fragments.
//! - [`WgmmaLoop`] (sm_90a, 16-bit types): the same block and pipeline as one warpgroup issuing
//!   wgmma m64n128k16 from shared-memory descriptors, two 64-row halves.
//! - [`WsLoop`] (sm_90a, 16-bit types): 384 threads, a 128x256 tile, warp-specialized: a
//!   producer warpgroup fills a `WS_STAGES` ring (B by TMA, A by TMA or cp.async) on mbarriers,
//!   two consumer warpgroups run wgmma m64n256k16 on 64 rows each.
//!
//! Shared layout of an operand in a stage: [rows][128 B], the 16-byte chunk c of row r at chunk
//! `c ^ (r % 8)`: the 8 row addresses of every ldmatrix phase fall in distinct banks, and it is
//! wgmma's canonical 128-byte-swizzle K-major layout (and TMA's 128-byte swizzle).

use core::mem::{offset_of, size_of};

use super::element::Mma;
use crate::layout::{PIPELINE_BYTES, PIPELINE_STAGES, TILE_K_BYTES, TILE_M, WS_STAGE_BYTES, WS_TILE_N};
use crate::ptx::{copy, mma, sync};
use crate::util::thread_idx;

/// One stage of the 128-thread pipeline: a K slice of 128 rows of A, then of 128 rows of B.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Stage {
    pub a: [u8; (TILE_M * TILE_K_BYTES) as usize],
    pub b: [u8; (TILE_M * TILE_K_BYTES) as usize],
}

/// A decode stage of the same pipeline (`DEEP`, A of at most 64 rows): 64 rows of A, then 128
/// of B; [`DEEP_STAGES`] of them fill the memory of [`PIPELINE_STAGES`] full ones.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DeepStage {
    pub a: [u8; (64 * TILE_K_BYTES) as usize],
    pub b: [u8; (TILE_M * TILE_K_BYTES) as usize],
}

/// The 128-thread pipeline's memory (`smem::Block::pipeline`): full stages, decode stages, or,
/// between GEMMs, the roles' scratch (the epilogue's staged tile, the static plan's counts).
#[repr(C)]
pub union Pipeline {
    pub stages: [Stage; PIPELINE_STAGES as usize],
    pub deep: [DeepStage; DEEP_STAGES as usize],
    pub scratch: [u8; PIPELINE_BYTES as usize],
}

/// One stage of the warp-specialized ring: a K slice of 128 rows of A, then of 256 rows of B.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct WsStage {
    pub a: [u8; (TILE_M * TILE_K_BYTES) as usize],
    pub b: [u8; (WS_TILE_N * TILE_K_BYTES) as usize],
}

/// Bytes of one operand tile in one stage.
pub const OPERAND_BYTES: u32 = offset_of!(Stage, b) as u32;
/// Bytes of one stage (A and B).
pub const STAGE_BYTES: u32 = size_of::<Stage>() as u32;

// The stages fill the pipeline memory exactly, and every operand tile starts on a 1024-byte
// swizzle atom.
const _: () = {
    assert!(size_of::<Pipeline>() as u32 == PIPELINE_BYTES);
    assert!(STAGE_BYTES * PIPELINE_STAGES == PIPELINE_BYTES && size_of::<DeepStage>() as u32 * DEEP_STAGES == PIPELINE_BYTES);
    assert!(STAGE_BYTES.is_multiple_of(1024));
    assert!(offset_of!(DeepStage, b).is_multiple_of(1024) && size_of::<DeepStage>().is_multiple_of(1024));
    assert!(size_of::<WsStage>() as u32 == WS_STAGE_BYTES && offset_of!(WsStage, b).is_multiple_of(1024));
};

/// Per-thread accumulators, 128 f32. Where each sits in the tile depends on the mainloop: see
/// [`TileLoop::position`].
pub type Acc = [[[f32; 4]; 8]; 4];

/// A tile mainloop policy: its MMA instructions and its accumulator layout (its shared-memory
/// stages are the types above). How it runs is [`BlockLoop`] (every thread of a 128-thread
/// block loads and multiplies) or [`SplitLoop`] (a producer warpgroup loads, consumer
/// warpgroups multiply).
pub trait TileLoop {
    /// Whether the loop issues Hopper wgmma.
    const WGMMA: bool;
    /// (row, column) in the output tile of `acc[i][j][q]` for this thread.
    fn position(i: u32, j: u32, q: u32) -> (u32, u32);
}

/// A loop every thread of a 128-thread block runs: the policy an MMA path names (`Mma::Loop`).
pub trait BlockLoop: TileLoop {
    /// acc += A·Bᵀ over `k_bytes` (see [`mainloop`]).
    ///
    /// # Safety
    /// As [`mainloop`].
    unsafe fn run<E: Mma, const DEEP: bool>(smem: u32, a: &Rows, b: &Rows, k_bytes: u32, acc: &mut Acc);
}

/// This thread's warp in its warpgroup, and its place in an m16n8 / m64nN fragment for
/// accumulator `q` (g = lane / 4, t = lane % 4): (warp, g (+8), 2t (+1)). A warp-specialized
/// block's consumers are warpgroups 1 and 2.
#[inline(always)]
fn fragment_coords(q: u32) -> (u32, u32, u32) {
    let tid = thread_idx() % 128;
    let (warp, lane) = (tid / 32, tid % 32);
    let (g, t) = (lane / 4, lane % 4);
    (warp, g + 8 * (q / 2), 2 * t + q % 2)
}

/// mma.sync (m16n8k16, tf32 m16n8k8) with ldmatrix fragments: the 4 warps in 2x2, 64x64 each.
pub struct SyncLoop;

impl TileLoop for SyncLoop {
    const WGMMA: bool = false;
    /// Warp (wm, wn) = (warp / 2, warp % 2) holds the m16n8 fragment at rows `wm·64 + 16i`,
    /// columns `wn·64 + 8j`.
    #[inline(always)]
    fn position(i: u32, j: u32, q: u32) -> (u32, u32) {
        let (warp, row_in, col_in) = fragment_coords(q);
        ((warp / 2) * 64 + i * 16 + row_in, (warp % 2) * 64 + j * 8 + col_in)
    }
}

impl BlockLoop for SyncLoop {
    #[inline(always)]
    unsafe fn run<E: Mma, const DEEP: bool>(smem: u32, a: &Rows, b: &Rows, k_bytes: u32, acc: &mut Acc) {
        unsafe { mainloop_sync::<E>(smem, a, b, k_bytes, acc) }
    }
}

/// wgmma m64n128k16 from shared-memory descriptors (sm_90a, 16-bit types): the block is one
/// warpgroup, two 64-row halves.
#[cfg(target_feature = "sm_90a")]
pub struct WgmmaLoop;

#[cfg(target_feature = "sm_90a")]
impl TileLoop for WgmmaLoop {
    const WGMMA: bool = true;
    /// `acc[2h..2h+2]` are the 64 registers of 64-row half h; warp w holds rows
    /// `64h + 16w + g (+8)`, column block `8·(i % 2) + j`.
    #[inline(always)]
    fn position(i: u32, j: u32, q: u32) -> (u32, u32) {
        let (warp, row_in, col_in) = fragment_coords(q);
        ((i / 2) * 64 + warp * 16 + row_in, ((i % 2) * 8 + j) * 8 + col_in)
    }
}

#[cfg(target_feature = "sm_90a")]
impl BlockLoop for WgmmaLoop {
    #[inline(always)]
    unsafe fn run<E: Mma, const DEEP: bool>(smem: u32, a: &Rows, b: &Rows, k_bytes: u32, acc: &mut Acc) {
        unsafe { mainloop_wgmma::<E, DEEP>(smem, a, b, k_bytes, acc) }
    }
}

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
    /// Gathered rows: shared address of a table of 128 row addresses (u64) that replaces
    /// `base + i·stride` (rows of a merged tile, tokens read in place from the input); 0: strided.
    pub table: u32,
}

impl Rows {
    /// Plain row-major rows.
    #[inline(always)]
    pub fn new(base: *const u8, stride: u64, valid: u32) -> Self {
        Rows { base, gate_rows: core::ptr::null(), stride, valid, table: 0 }
    }

    /// Rows whose addresses are in the shared table at `table` (plus `offset` bytes each).
    #[inline(always)]
    pub fn gathered(table: u32, offset: u64, valid: u32) -> Self {
        Rows { base: offset as *const u8, gate_rows: core::ptr::null(), stride: 0, valid, table }
    }
}

/// Shared address of chunk `chunk` of row `row` in an operand tile at `tile`.
#[inline(always)]
fn swizzled(tile: u32, row: u32, chunk: u32) -> u32 {
    tile + row * TILE_K_BYTES + ((chunk ^ (row & 7)) << 4)
}

/// What one thread copies of an operand: chunk `tid % 8` of rows `tid / 8 + 16 i`, i < `count`.
/// One base pointer (two when gated) and a 16-row step keep the loader to a few registers.
pub struct ThreadRows {
    base: *const u8,
    gate: *const u8,
    step: usize,
    count: u32,
    /// Offset of this thread's chunk in an operand tile (same swizzle for every i).
    smem: u32,
    /// Gathered rows: shared address of this thread's first entry in the row table (0: strided).
    table: u32,
}

#[inline(always)]
pub fn thread_rows(op: &Rows) -> ThreadRows {
    let tid = thread_idx();
    let (r, chunk) = (tid / 8, tid % 8);
    let offset = r as usize * op.stride as usize + chunk as usize * 16;
    let table = if op.table == 0 { 0 } else { op.table + r * 8 };
    ThreadRows {
        base: op.base.wrapping_add(if op.table == 0 { offset } else { chunk as usize * 16 }),
        gate: op.gate_rows.wrapping_add(offset),
        step: 16 * op.stride as usize,
        count: if op.valid > r { (op.valid - r).div_ceil(16) } else { 0 },
        smem: swizzled(0, r, chunk),
        table,
    }
}

/// Issues the cp.async copies of one 128-byte K slice of an operand into the tile at `dst`
/// (threads 0..128 of the block: the whole 128-thread block, or a producer warpgroup).
/// `EVICT_FIRST`: the bytes are read once in this forward (decode's weights), L2 drops them first.
#[inline(always)]
pub unsafe fn load_operand<const EVICT_FIRST: bool>(dst: u32, t: &ThreadRows, gated: bool, k_offset: u32) {
    let policy = if EVICT_FIRST { copy::evict_first_policy() } else { 0 };
    unroll!(8, i, {
        if (i as u32) < t.count {
            // Gated B: rows alternate in 32-row groups between W1 and W3 (see `Rows::gate_rows`).
            let src = if t.table != 0 {
                // Row r + 16 i of the table; `base` holds the chunk (and column) offset.
                let at = t.table + i as u32 * 16 * 8;
                let row = unsafe { (copy::ld_shared_u32(at) as u64) | ((copy::ld_shared_u32(at + 4) as u64) << 32) };
                t.base.wrapping_add(row as usize)
            } else if gated {
                let base = if (i / 2) % 2 == 0 { t.base } else { t.gate };
                base.wrapping_add(((i / 4) * 2 + i % 2) * t.step)
            } else {
                t.base.wrapping_add(i * t.step)
            };
            let (to, from) = (dst + t.smem + i as u32 * 16 * TILE_K_BYTES, src.wrapping_add(k_offset as usize));
            if EVICT_FIRST {
                unsafe { copy::cp_async_16_hinted(to, from, policy) };
            } else {
                unsafe { copy::cp_async_16(to, from) };
            }
        }
    });
}

/// acc += A·Bᵀ over `k_bytes` (a multiple of 128) for the 128x128 tile; `smem` is the pipeline.
///
/// MMAs past `a.valid` rows are skipped (m16 slices on mma.sync, 64-row halves on wgmma), so
/// small row tiles (decode) cost little more than their weight reads. `DEEP`: on wgmma, tiles of
/// up to 64 rows get a deeper pipeline ([`mainloop_wgmma`]).
///
/// # Safety
/// Every valid row of `a` and `b` holds `k_bytes` readable bytes; all threads of the block call it.
#[inline(always)]
pub unsafe fn mainloop<E: Mma, const DEEP: bool>(smem: u32, a: &Rows, b: &Rows, k_bytes: u32, acc: &mut Acc) {
    unsafe { E::Loop::run::<E, DEEP>(smem, a, b, k_bytes, acc) }
}

/// Issues the prologue of the pipeline: stages 0..STAGES-1 (one commit group each).
#[inline(always)]
unsafe fn prologue(smem: u32, ta: &ThreadRows, tb: &ThreadRows, b_gated: bool, k_tiles: u32) {
    for s in 0..PIPELINE_STAGES - 1 {
        if s < k_tiles {
            let base = smem + s * STAGE_BYTES;
            unsafe {
                load_operand::<false>(base, ta, false, s * TILE_K_BYTES);
                load_operand::<false>(base + OPERAND_BYTES, tb, b_gated, s * TILE_K_BYTES);
            }
        }
        copy::cp_async_commit();
    }
}

/// Issues the loads of K tile `kt + STAGES - 1` (into the buffer consumed at `kt - 1`).
#[inline(always)]
unsafe fn prefetch(smem: u32, ta: &ThreadRows, tb: &ThreadRows, b_gated: bool, kt: u32, k_tiles: u32) {
    let next = kt + PIPELINE_STAGES - 1;
    if next < k_tiles {
        let base = smem + (next % PIPELINE_STAGES) * STAGE_BYTES;
        unsafe {
            load_operand::<false>(base, ta, false, next * TILE_K_BYTES);
            load_operand::<false>(base + OPERAND_BYTES, tb, b_gated, next * TILE_K_BYTES);
        }
    }
    copy::cp_async_commit();
}

/// The wgmma path: per stage, each 64-row half runs four m64n128k16 (one per 32-byte K step)
/// from descriptors into the stage's swizzled tiles.
///
/// With `DEEP`, up to 64 rows of A (decode) make the pipeline four stages of a 64-row A tile
/// and B instead of three of 128-row tiles (the same bytes): three stages of weights stay in
/// flight rather than two, where streaming the weights is the whole cost. (The gate keeps three:
/// the extra registers made the warp-specialized entries spill 216 bytes instead of 104.)
#[cfg(target_feature = "sm_90a")]
#[inline(always)]
unsafe fn mainloop_wgmma<E: Mma, const DEEP: bool>(smem: u32, a: &Rows, b: &Rows, k_bytes: u32, acc: &mut Acc) {
    use crate::ptx::wgmma::{descriptor_sw128, fence_proxy_async_shared};
    let k_tiles = k_bytes / TILE_K_BYTES;
    let (ta, tb) = (thread_rows(a), thread_rows(b));
    let b_gated = !b.gate_rows.is_null();
    let second_half = a.valid > 64;
    let deep = DEEP && !second_half;
    let ring = if deep { Ring::for_rows(64) } else { Ring::for_rows(u32::MAX) };
    // With DEEP both shapes wrap at the end of the pipeline memory, so the loop carries two
    // stage addresses; without, K tile k's stage is `k % 3` as ever (the gate's registers).
    let advance = |at: u32| if at + ring.stage_bytes == smem + PIPELINE_BYTES { smem } else { at + ring.stage_bytes };
    let stage_of = |k: u32, at: u32| if DEEP { at } else { smem + (k % PIPELINE_STAGES) * STAGE_BYTES };
    // A decode tile's weights are read once per forward (one row tile per expert): evict first.
    let load_weights = |at: u32, t: &ThreadRows, gated: bool, k: u32| unsafe {
        if deep { load_operand::<true>(at, t, gated, k) } else { load_operand::<false>(at, t, gated, k) }
    };
    let mut fill = smem;
    for s in 0..ring.stages - 1 {
        if s < k_tiles {
            let base = stage_of(s, fill);
            unsafe {
                load_operand::<false>(base, &ta, false, s * TILE_K_BYTES);
                load_weights(base + ring.a_bytes, &tb, b_gated, s * TILE_K_BYTES);
            }
        }
        copy::cp_async_commit();
        fill = advance(fill);
    }
    let mut read = smem;
    for kt in 0..k_tiles {
        if deep {
            copy::cp_async_wait::<{ DEEP_STAGES - 2 }>();
        } else {
            copy::cp_async_wait::<{ PIPELINE_STAGES - 2 }>();
        }
        // This thread's cp.async data -> visible to the async proxy; the barrier makes everyone's.
        fence_proxy_async_shared();
        sync::sync_threads();
        // The buffer refilled here was read by the previous stage's wgmmas, which completed.
        let next = kt + ring.stages - 1;
        if next < k_tiles {
            let base = stage_of(next, fill);
            unsafe {
                load_operand::<false>(base, &ta, false, next * TILE_K_BYTES);
                load_weights(base + ring.a_bytes, &tb, b_gated, next * TILE_K_BYTES);
            }
        }
        copy::cp_async_commit();
        fill = advance(fill);
        let sa = stage_of(kt, read);
        let sb = sa + ring.a_bytes;
        read = advance(read);
        let steps =
            |base: u32| [descriptor_sw128(base), descriptor_sw128(base + 32), descriptor_sw128(base + 64), descriptor_sw128(base + 96)];
        let (ad, bd) = (steps(sa), steps(sb));
        if second_half {
            unsafe { E::wgmma_x8(acc, ad, steps(sa + 64 * TILE_K_BYTES), bd) };
        } else {
            let (h0, _) = acc.split_at_mut(2);
            let (x0, x1) = h0.split_at_mut(1);
            unsafe { E::wgmma_x4((&mut x0[0], &mut x1[0]), ad, bd) };
        }
    }
    copy::cp_async_wait::<0>();
    sync::sync_threads();
}

/// Stages of the decode pipeline (A tiles of up to 64 rows).
const DEEP_STAGES: u32 = 4;

/// The pipeline's shape for an A operand of `rows` rows: stages, bytes per stage, and where B
/// starts in a stage.
#[derive(Clone, Copy)]
#[cfg(target_feature = "sm_90a")]
struct Ring {
    stages: u32,
    stage_bytes: u32,
    a_bytes: u32,
}

#[cfg(target_feature = "sm_90a")]
impl Ring {
    #[inline(always)]
    const fn for_rows(rows: u32) -> Ring {
        if rows <= 64 {
            Ring { stages: DEEP_STAGES, stage_bytes: size_of::<DeepStage>() as u32, a_bytes: offset_of!(DeepStage, b) as u32 }
        } else {
            Ring { stages: PIPELINE_STAGES, stage_bytes: STAGE_BYTES, a_bytes: offset_of!(Stage, b) as u32 }
        }
    }
}

/// The mma.sync path.
#[inline(always)]
unsafe fn mainloop_sync<E: Mma>(smem: u32, a: &Rows, b: &Rows, k_bytes: u32, acc: &mut Acc) {
    let tid = thread_idx();
    let (warp, lane) = (tid / 32, tid % 32);
    let (wm, wn) = (warp / 2, warp % 2);
    let m16_valid = a.valid.div_ceil(16);
    let k_tiles = k_bytes / TILE_K_BYTES;
    let (ta, tb) = (thread_rows(a), thread_rows(b));
    let b_gated = !b.gate_rows.is_null();
    unsafe { prologue(smem, &ta, &tb, b_gated, k_tiles) };
    for kt in 0..k_tiles {
        copy::cp_async_wait::<{ PIPELINE_STAGES - 2 }>();
        sync::sync_threads();
        unsafe { prefetch(smem, &ta, &tb, b_gated, kt, k_tiles) };

        let sa = smem + (kt % PIPELINE_STAGES) * STAGE_BYTES;
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
            // B fragments per 16 columns, used right away: 4 live registers instead of 16.
            unroll!(4, jj, {
                let row = wn * 64 + jj as u32 * 16 + lane % 8 + 8 * (lane / 16);
                let r = unsafe { mma::ldmatrix_x4(swizzled(sb, row, ks * 2 + (lane / 8) % 2)) };
                let (b0, b1) = ([E::operand(r[0]), E::operand(r[1])], [E::operand(r[2]), E::operand(r[3])]);
                unroll!(4, i, {
                    if wm * 4 + (i as u32) < m16_valid {
                        E::mma(&mut acc[i][2 * jj], &af[i], b0[0], b0[1]);
                        E::mma(&mut acc[i][2 * jj + 1], &af[i], b1[0], b1[1]);
                    }
                });
            });
        });
    }
    copy::cp_async_wait::<0>();
    sync::sync_threads();
}

/// A stage's B tile (256 rows) by TMA from 2D maps (128-byte swizzle, boxes of
/// [`WEIGHT_BOX_COLS`](crate::layout::WEIGHT_BOX_COLS) columns, in global memory): one box of
/// 256 rows from `maps[0]`, or when gated W1's 128 rows (`maps[0]`) then W3's (`maps[1]`), both
/// from map row `row0`.
#[derive(Clone, Copy)]
#[cfg(target_feature = "sm_90a")]
pub struct TmaB {
    pub maps: [u64; 2],
    pub row0: u32,
    pub gated: bool,
}

/// The warp-specialized loop (sm_90a, 16-bit types): a 384-thread block, 128x256 tiles; warpgroup
/// 0 produces, warpgroups 1 and 2 consume (`os::ws`).
#[cfg(target_feature = "sm_90a")]
pub struct WsLoop;

#[cfg(target_feature = "sm_90a")]
impl TileLoop for WsLoop {
    const WGMMA: bool = true;
    /// Consumer c (warpgroup c + 1) holds rows `64c + 16·warp + g (+8)`; column block j of its
    /// m64n256 result is `acc[j / 8][j % 8]`. (`%tid.x` read again, as `group::warpgroup_tid`.)
    #[inline(always)]
    fn position(i: u32, j: u32, q: u32) -> (u32, u32) {
        let tid = crate::group::warpgroup_tid();
        let (warp, lane) = (tid / 32, tid % 32);
        let consumer = crate::ptx::warp::tid_x_reread() / 128 - 1;
        (consumer * 64 + warp * 16 + lane / 4 + 8 * (q / 2), (8 * i + j) * 8 + 2 * (lane % 4) + q % 2)
    }
}

/// A loop split between a producer warpgroup, which loads the stages of a ring, and consumer
/// warpgroups, which multiply them, handing stages over on mbarriers.
#[cfg(target_feature = "sm_90a")]
pub trait SplitLoop: TileLoop {
    /// acc += A·Bᵀ for consumer `half` over `k_tiles` stages from ring position `ring`.
    ///
    /// # Safety
    /// Every thread of one consumer warpgroup; the producer fills those stages.
    unsafe fn consume<E: Mma>(smem: u32, ring: u32, k_tiles: u32, half: u32, acc: &mut Acc, deadline_ns: u64) -> bool;
    /// Loads K slice `kt` of a task into ring position `at` once it is free.
    ///
    /// # Safety
    /// Every thread of the producer warpgroup, in ring order.
    #[allow(clippy::too_many_arguments)]
    unsafe fn produce(smem: u32, at: u32, ta: &ThreadRows, a_map: Option<(u64, u32)>, b: &TmaB, kt: u32, deadline_ns: u64) -> bool;
}

#[cfg(target_feature = "sm_90a")]
impl SplitLoop for WsLoop {
    /// The consumer side of the warp-specialized pipeline (sm_90a): acc += A·Bᵀ for consumer
    /// `half`'s 64 rows (`64 half ..`) of a 128x256 tile over `k_tiles` stages of the shared ring,
    /// starting at ring position `ring`. Per stage: wait until the operands landed (`full`), make the
    /// producer's cp.async writes visible to the async proxy, issue four wgmma m64n256k16, and once
    /// the previous stage's wgmmas completed (one stage stays in flight) release that stage
    /// (`empty`, one arrival per consumer thread). Consumer 0's thread 0 also stores each stage's
    /// A into the dispatch rows when the task streams its row tile ([`store_streamed_slice`]),
    /// and releases a stage only once that store has read it. False when a wait ran past
    /// `deadline_ns` (the producer stopped).
    ///
    /// # Safety
    /// Every thread of one consumer warpgroup; the stages of positions `ring..ring + k_tiles` are
    /// (being) filled for this task by the producer.
    #[inline(always)]
    unsafe fn consume<E: Mma>(smem: u32, ring: u32, k_tiles: u32, half: u32, acc: &mut Acc, deadline_ns: u64) -> bool {
        use crate::layout::WS_STAGES;
        use crate::ptx::{
            mbarrier,
            wgmma::{descriptor_sw128, fence_proxy_async_shared, wait_group0_acc128, wait_group1_acc128},
        };
        use crate::smem::ws;
        // A wait that runs out does not leave the loop: leaving with wgmmas in flight would put a
        // warpgroup dependency on a divergent path, and ptxas then serializes every wgmma (C7518).
        let mut ok = true;
        for kt in 0..k_tiles {
            let at = ring + kt;
            let s = at % WS_STAGES;
            ok &= unsafe { wait(smem + ws::FULL + 8 * s, (at / WS_STAGES) & 1, deadline_ns) };
            fence_proxy_async_shared();
            let stage = smem + ws::stage(s);
            // A streamed row tile's K slice leaves for the dispatch rows as soon as it landed
            // (consumer 0's thread 0), its read overlapping the wgmmas: stored at the refill, it
            // held the stage back from the producer (perf log v33).
            if crate::ptx::warp::tid_x_reread() == 128 {
                unsafe { store_streamed_slice(smem, stage, kt) };
            }
            let steps =
                |base: u32| [descriptor_sw128(base), descriptor_sw128(base + 32), descriptor_sw128(base + 64), descriptor_sw128(base + 96)];
            unsafe {
                E::wgmma_n256_async(acc, steps(stage + half * 64 * TILE_K_BYTES), steps(stage + offset_of!(WsStage, b) as u32));
                wait_group1_acc128(acc);
                if kt > 0 {
                    mbarrier::arrive(smem + ws::EMPTY + 8 * ((at - 1) % WS_STAGES));
                }
            }
        }
        // Unconditional: a path that reads `acc` without this wait would make ptxas serialize.
        unsafe { wait_group0_acc128(acc) };
        if crate::ptx::warp::tid_x_reread() == 128 {
            crate::ptx::tma::bulk_wait_group_read::<0>();
        }
        if k_tiles > 0 {
            unsafe { mbarrier::arrive(smem + ws::EMPTY + 8 * ((ring + k_tiles - 1) % WS_STAGES)) };
        }
        ok
    }

    /// The producer side: once the consumers freed ring position `at`, loads K slice `kt` of B (by
    /// TMA) and A into it, all completing on the stage's `full` barrier: thread 0 arrives with the
    /// TMA bytes expected. A comes by one TMA box of 128 rows from `a_map` = (map, first row) when
    /// given, else by every producer thread's cp.async copies of `ta`; every producer thread arrives
    /// too (once its copies landed), so the barrier counts 129 arrivals (`os::ws::FULL_ARRIVALS`)
    /// whichever way A came, and tasks of both kinds share the ring. False when the wait ran past
    /// `deadline_ns`. (`ta` and `a_map` stay apart: one enum of both kept `ta` in local memory and
    /// reloaded its fields around every cp.async, 533 -> 312 TFLOP/s.)
    ///
    /// # Safety
    /// Every thread of the producer warpgroup (threads 0..128), in ring order; the maps and rows
    /// cover the tile.
    #[inline(always)]
    unsafe fn produce(smem: u32, at: u32, ta: &ThreadRows, a_map: Option<(u64, u32)>, b: &TmaB, kt: u32, deadline_ns: u64) -> bool {
        use crate::layout::{GATED_BOX_ROWS, WS_STAGES};
        use crate::ptx::{mbarrier, tma};
        use crate::smem::ws;
        let s = at % WS_STAGES;
        // Position `at` reuses the stage of `at - WS_STAGES`: wait for the consumers' release of that
        // phase (a fresh barrier reads parity 1 as complete, so the first pass does not wait).
        let free = unsafe { wait(smem + ws::EMPTY + 8 * s, ((at / WS_STAGES) & 1) ^ 1, deadline_ns) };
        let (stage, full) = (smem + ws::stage(s), smem + ws::FULL + 8 * s);
        if !free {
            return false;
        }
        let x = kt * crate::layout::WEIGHT_BOX_COLS;
        unsafe {
            if crate::group::warpgroup_tid() == 0 {
                let a_bytes = if a_map.is_some() { offset_of!(WsStage, b) as u32 } else { 0 };
                mbarrier::arrive_expect_tx(full, WS_TILE_N * TILE_K_BYTES + a_bytes);
                let sb = stage + offset_of!(WsStage, b) as u32;
                tma::load_2d(sb, b.maps[0], x, b.row0, full);
                if b.gated {
                    tma::load_2d(sb + GATED_BOX_ROWS * TILE_K_BYTES, b.maps[1], x, b.row0, full);
                }
                if let Some((map, row)) = a_map {
                    tma::load_2d(stage, map, x, row, full);
                }
            }
            // Every producer thread arrives once either way (the barrier counts 129).
            if a_map.is_none() {
                load_operand::<false>(stage, ta, false, kt * TILE_K_BYTES);
                mbarrier::arrive_on_copies(full);
            } else {
                mbarrier::arrive(full);
            }
        }
        true
    }
}

/// Stores K slice `kt` of the task's A from `stage` into the dispatch rows when the task streams
/// its row tile (`smem::ws::StreamStore`, written by the same thread at the task's start).
///
/// # Safety
/// Consumer 0's thread 0, after the stage's `full` wait and the proxy fence.
#[cfg(target_feature = "sm_90a")]
#[inline(always)]
unsafe fn store_streamed_slice(smem: u32, stage: u32, kt: u32) {
    use crate::ptx::{copy, tma};
    use crate::smem::ws::{STREAM_STORE_MAP, STREAM_STORE_ROW};
    let row = unsafe { copy::ld_shared_u32(smem + STREAM_STORE_ROW) };
    if row != crate::layout::NONE {
        let map = unsafe {
            (copy::ld_shared_u32(smem + STREAM_STORE_MAP) as u64) | (copy::ld_shared_u32(smem + STREAM_STORE_MAP + 4) as u64) << 32
        };
        unsafe { tma::store_2d(map, kt * crate::layout::WEIGHT_BOX_COLS, row, stage) };
        tma::bulk_commit_group();
        // The previous slice's store has read its stage (issued a stage ago) before the
        // consumer releases that stage.
        tma::bulk_wait_group_read::<1>();
    }
}

/// Waits until phase `parity` of the mbarrier at `bar` completed; false past `deadline_ns`.
///
/// # Safety
/// `bar` is an initialised barrier.
#[cfg(target_feature = "sm_90a")]
#[inline(always)]
pub unsafe fn wait(bar: u32, parity: u32, deadline_ns: u64) -> bool {
    use crate::ptx::{mbarrier, time};
    loop {
        if unsafe { mbarrier::try_wait(bar, parity) } {
            return true;
        }
        if time::global_timer_ns() > deadline_ns {
            return false;
        }
    }
}
