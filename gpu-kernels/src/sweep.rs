//! The sweep forward (`moe_sweep_*`, `flags::LEAN_SWEEP`): a few tokens of experts too large for
//! the lean kernel's one block per item. After every block routed the tokens (`lean::start`, as
//! in the routed launch; past eight experts the blocks split the gate, `lean::route_shared`), the
//! grid's warps read the chosen experts' weights once, each weight row a dot product with the
//! expert's rows: GEMM0 over the W1 (and W3) rows of every intermediate column, a grid barrier,
//! GEMM1 over the W2 rows of every output column, a second barrier, then the combine. Every
//! block takes a contiguous, equal share of each sweep, so every SM streams until the sweep
//! ends (the persistent engines' last tasks leave SMs idle, perf log v22), and no weight byte
//! waits for another block's work except at the two barriers.
//!
//! Each dot product runs in one warp in a fixed order (lane l takes the 16-byte vectors l,
//! l + 32, ...; then a butterfly), so the output repeats bitwise whatever the grid. An expert
//! with [`MMA_MIN_ROWS`] rows or more takes tensor cores instead: tiles of 16 weight rows
//! against its (up to eight) rows by `mma.sync`, the block's four warps each a quarter of K,
//! added in warp order (the CUDA-core sums' issue slots grow with the rows, the MMA's do not).
//!
//! The loads' latency bounds the sweep: its rate grows with the warps an SM holds (perf log v36
//! c6), so it is an entry of its own, with the lean blocks' small shared layout and launch
//! bounds for three 128-thread blocks an SM (at most 168 registers a thread).

use crate::fault::{self, Deadline};
use crate::gemm::activation::Act;
use crate::gemm::element::{Bf16, Element, F16, Mma};
use crate::grid;
use crate::layout::{EXPERT_MAX_ROWS, ExpertRuns, LEAN_MAX_PAIRS, LEAN_ROWS, LEAN_X_BYTES, MoeParams, NONE, block_share, timeline};
use crate::lean::{
    ACTIVE, ACTIVE_COUNT, GATE_EXPERTS, GATE_TOKENS, H, PAIR, X, expert_rows, first_row, fma, gemm0_dots, kept_rows, row_token, staged_rows,
};
use crate::ptx::{copy, sync, warp};
use crate::util::{block_idx, grid_dim, thread_idx};

/// W2 vectors (16 bytes) a lane has in flight for each of the two columns GEMM1 sums at once
/// (GEMM0 shares the lean items' dot products, `lean::gemm0_dots`). Sixteen for one column were
/// slower (perf log v35 c5); two columns of eight are faster (v36 c4).
const VECS: usize = 8;

/// Rows of an expert from which its GEMMs run on tensor cores ([`gemm0_mma`], [`gemm1_mma`]).
/// One row's CUDA-core dot products stream at the GPU's read rate (perf log v37); their issue
/// slots grow with the rows: two rows on tensor cores were up to 10% faster (v39 c7), three or
/// four 25-35% (c6).
const MMA_MIN_ROWS: u32 = 2;
const _: () = assert!(MMA_MIN_ROWS <= LEAN_ROWS + 1 && EXPERT_MAX_ROWS <= 8);

/// The forward (see the module docs).
///
/// # Safety
/// A cooperative launch of 128-thread blocks with `layout::LEAN_SHARED_BYTES`, as many as the
/// GPU holds at once, with `flags::LEAN_SWEEP`, at most `layout::SWEEP_MAX_TOKENS` tokens (their
/// rows within `layout::LEAN_X_BYTES`), `gate_splits` 1 and a partial region of
/// `layout::sweep_bytes`, on one GPU.
#[inline(always)]
unsafe fn forward<E: Mma>(param: &MoeParams) {
    // Up to eight experts and four tokens every block computes every logit (no barrier before
    // the routing); more are split over the blocks (`lean::route_shared`).
    let shared_gate = param.experts > GATE_EXPERTS as u32 || param.tokens > GATE_TOKENS;
    let (p, smem) = unsafe { crate::lean::start::<E>(param, !shared_gate) };
    let dl = Deadline::new(p.timeout_ns);
    if !shared_gate || unsafe { crate::lean::route_shared::<E>(p, smem, &dl) } {
        unsafe { run::<E>(p, smem, &dl) };
    }
    fault::mark_now(p, timeline::END);
}

/// The sweeps and the combine (see the module docs); stops where a barrier gave up (the launch
/// aborted or timed out: recorded).
///
/// # Safety
/// All threads of every block, after the routing.
#[inline(always)]
unsafe fn run<E: Mma>(p: &MoeParams, smem: u32, dl: &Deadline) {
    let active = unsafe { copy::ld_shared_u32(smem + ACTIVE_COUNT) };
    let warp_id = thread_idx() / 32;
    let gated = p.gated();
    // The share's columns of one expert at a time.
    for (a, lo, hi) in ExpertRuns::new(share(active * p.inter), p.inter) {
        if unsafe { kept_rows(smem, a) } >= MMA_MIN_ROWS {
            unsafe { gemm0_mma::<E>(p, smem, a, lo, hi) };
        } else {
            let mut c = lo + warp_id;
            while c < hi {
                // Ungated: this warp's next column of the same expert row rides along.
                let c2 = if !gated && c + 4 < hi { c + 4 } else { NONE };
                unsafe { gemm0_any::<E>(p, smem, a, c, c2) };
                c += if c2 == NONE { 4 } else { 8 };
            }
        }
    }
    if !unsafe { grid::barrier::<true>(p, dl, smem) } {
        return;
    }
    fault::mark_now(p, timeline::BARRIER_DONE);
    // The share's rows of one expert at a time, their h staged once.
    for (a, lo, hi) in ExpertRuns::new(share(active * p.hidden), p.hidden) {
        if unsafe { kept_rows(smem, a) } >= MMA_MIN_ROWS {
            unsafe { gemm1_mma::<E>(p, smem, a, lo, hi) };
        } else {
            unsafe { gemm1_any::<E>(p, smem, a, lo, hi) };
        }
    }
    fault::mark_now(p, timeline::LAST_TASK);
    if !unsafe { grid::barrier::<true>(p, dl, smem) } {
        return;
    }
    unsafe { combine::<E>(p, smem) };
}

/// This block's share `[first, end)` of `units` units ([`block_share`]).
fn share(units: u32) -> (u32, u32) {
    block_share(units, block_idx(), grid_dim())
}

/// Byte offset of row `row`, column `c`, in a region of rows of `cols` 16-bit values (expert row
/// a's row r is row `lean::first_row(a) + r`).
fn at(row: u32, c: u32, cols: u32) -> u64 {
    ((row * cols + c) as u64) * 2
}

/// Where GEMM1's outputs start in the partial region: after h, `[LEAN_MAX_PAIRS][I]`.
fn y_offset(p: &MoeParams) -> u64 {
    at(LEAN_MAX_PAIRS, 0, p.inter)
}

/// GEMM0's column `c` of expert row `a` (one warp): h = act(x·W1[c] + b1) (· (x·W3[c] + b3)),
/// rounded to the dtype, for each of the expert's rows, into `ws.gemm1_partials` (`[a][r][I]`).
/// Ungated, column `c2` too unless it is `NONE`: its W1 row streams where a gated layer's W3 row
/// does, so a lane has twice the bytes in flight, and each sum is the one it would be alone.
///
/// # Safety
/// One whole warp; `a` below the active experts, `c` (and `c2`) below I; `c2` is `NONE` when
/// gated.
unsafe fn gemm0_any<E: Element>(p: &MoeParams, smem: u32, a: u32, c: u32, c2: u32) {
    let (rows, tokens) = unsafe { expert_rows(smem, a) };
    unsafe {
        match (rows, p.gated()) {
            (1, false) => gemm0::<E, 1, false>(p, smem, a, c, c2, rows, tokens),
            (1, true) => gemm0::<E, 1, true>(p, smem, a, c, c2, rows, tokens),
            (2, false) => gemm0::<E, 2, false>(p, smem, a, c, c2, rows, tokens),
            (2, true) => gemm0::<E, 2, true>(p, smem, a, c, c2, rows, tokens),
            (_, false) => gemm0::<E, 4, false>(p, smem, a, c, c2, rows, tokens),
            (_, true) => gemm0::<E, 4, true>(p, smem, a, c, c2, rows, tokens),
        }
    }
}

/// [`gemm0_any`] for at most `R` rows.
///
/// # Safety
/// As [`gemm0_any`].
#[inline(never)]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm0<E: Element, const R: usize, const GATED: bool>(p: &MoeParams, smem: u32, a: u32, c: u32, c2: u32, rows: u32, tokens: u32) {
    let lane = thread_idx() % 32;
    let e = unsafe { copy::ld_shared_u32(smem + ACTIVE + 4 * a) };
    let row_bytes = p.hidden * E::BYTES;
    let x = staged_rows::<R>(smem, row_bytes, rows, tokens);
    let w_row = |col: u32| (e * p.inter + col) as u64 * row_bytes as u64;
    // The second row: W3[c] when gated, else W1[c2] (W1[c] again, unused, when c2 is NONE).
    let pair = !GATED && c2 != NONE;
    let w1 = (p.w1 + w_row(c)) as *const u8;
    let w3 = if GATED { p.w3 + w_row(c) } else { p.w1 + w_row(if pair { c2 } else { c }) } as *const u8;
    // Biases asked for first: they land while the weights stream.
    let bias = p.has_bias();
    let b1 = if bias { unsafe { E::load(p.b1 as *const u8, e * p.inter + c) } } else { 0.0 };
    let b3 = if bias && GATED {
        unsafe { E::load(p.b3 as *const u8, e * p.inter + c) }
    } else if bias && pair {
        unsafe { E::load(p.b1 as *const u8, e * p.inter + c2) }
    } else {
        0.0
    };
    let vecs = row_bytes / 16;
    let (mut acc, mut up) = ([0.0f32; LEAN_ROWS as usize], [0.0f32; LEAN_ROWS as usize]);
    unsafe { gemm0_dots::<E, R, true>(w1, w3, &x, rows, vecs, lane, 32, &mut acc, &mut up) };
    unroll!(4, r, {
        if r < R {
            acc[r] = warp::sum_f32(acc[r], 32);
            up[r] = warp::sum_f32(up[r], 32);
        }
    });
    if lane == 0 {
        let act = Act::of(p);
        let (mut vals, mut vals2) = ([0.0f32; 8], [0.0f32; 8]);
        unroll!(4, r, {
            vals[r] = acc[r] + b1;
            vals2[r] = up[r] + b3;
        });
        act.apply8(&mut vals);
        if pair {
            act.apply8(&mut vals2);
        }
        let h = (p.workspace + p.ws.gemm1_partials) as *mut u8;
        let base = unsafe { first_row(smem, a) };
        unroll!(4, r, {
            if r < R && (r as u32) < rows {
                let v = if GATED { vals[r] * act.up(vals2[r]) } else { vals[r] };
                let row = base + r as u32;
                unsafe { *(h.add(at(row, c, p.inter) as usize) as *mut u16) = bits16::<E>(v) };
                if pair {
                    unsafe { *(h.add(at(row, c2, p.inter) as usize) as *mut u16) = bits16::<E>(vals2[r]) };
                }
            }
        });
    }
}

/// GEMM1's output columns `[n, stop)` of expert row `a` (the whole block): y = round(h·W2[n] +
/// b2) for each of the expert's rows, into the region after h (`[a][r][H]`). The expert's h rows
/// are staged in shared memory a chunk of I at a time (the input rows' space, free now); each
/// warp sums its output columns over every chunk in registers, eight at a time.
///
/// # Safety
/// All threads of the block; after the first barrier.
unsafe fn gemm1_any<E: Element>(p: &MoeParams, smem: u32, a: u32, n: u32, stop: u32) {
    let (rows, _) = unsafe { expert_rows(smem, a) };
    unsafe {
        match rows {
            1 => gemm1::<E, 1>(p, smem, a, n, stop, rows),
            2 => gemm1::<E, 2>(p, smem, a, n, stop, rows),
            _ => gemm1::<E, 4>(p, smem, a, n, stop, rows),
        }
    }
}

/// Output columns a warp sums at once in [`gemm1`].
const COLS_PER_WARP: u32 = 8;

/// [`gemm1_any`] for at most `R` rows.
///
/// # Safety
/// As [`gemm1_any`].
#[inline(never)]
unsafe fn gemm1<E: Element, const R: usize>(p: &MoeParams, smem: u32, a: u32, n_first: u32, stop: u32, rows: u32) {
    let (warp_id, lane) = (thread_idx() / 32, thread_idx() % 32);
    let e = unsafe { copy::ld_shared_u32(smem + ACTIVE + 4 * a) };
    let inter_bytes = p.inter * E::BYTES;
    // Chunk of I staged at once: R rows of 16-bit values in the input rows' space.
    let chunk = LEAN_X_BYTES / (2 * R as u32);
    let h = (p.workspace + p.ws.gemm1_partials) as *const u8;
    let y = unsafe { h.add(y_offset(p) as usize) } as *mut u8;
    let base = unsafe { first_row(smem, a) };
    let mut n0 = n_first;
    while n0 < stop {
        // This pass: a warp's COLS_PER_WARP columns n0 + warp + 4 i.
        let mut acc = [[0.0f32; LEAN_ROWS as usize]; COLS_PER_WARP as usize];
        let mut b2 = [0.0f32; COLS_PER_WARP as usize];
        unroll!(8, i, {
            let n = n0 + warp_id + 4 * i as u32;
            if p.has_bias() && n < stop {
                b2[i] = unsafe { E::load(p.b2 as *const u8, e * p.hidden + n) };
            }
        });
        let mut k0 = 0;
        while k0 < p.inter {
            let cols = chunk.min(p.inter - k0);
            sync::sync_threads();
            // Stage h[a][r][k0 .. k0 + cols] as [r][chunk] (16-byte pieces; I is a multiple of 8).
            let pieces = cols / 8;
            let mut q = thread_idx();
            while q < R as u32 * pieces {
                let (r, v) = (q / pieces, q % pieces);
                if r < rows {
                    let src = unsafe { h.add((at(base + r, k0, p.inter) + 16 * v as u64) as usize) };
                    unsafe { copy::cp_async_16(smem + X + 2 * r * chunk + 16 * v, src) };
                }
                q += 128;
            }
            copy::cp_async_commit();
            copy::cp_async_wait::<0>();
            sync::sync_threads();
            let vecs = cols / 8;
            // Two columns at a time: twice the W2 bytes in flight a lane, one h load for both.
            unroll!(4, q, {
                let (ia, ib) = (2 * q, 2 * q + 1);
                let na = n0 + warp_id + 4 * ia as u32;
                let nb = na + 4;
                if na < stop {
                    let w2 = |n: u32| (p.w2 + (e * p.hidden + n) as u64 * inter_bytes as u64 + k0 as u64 * 2) as *const u8;
                    let (wa, wb) = (w2(na), w2(nb));
                    let mut v0 = lane;
                    while v0 < vecs {
                        let mut raw = [[[0u32; 4]; VECS]; 2];
                        unroll!(8, m, {
                            let v = v0 + 32 * m as u32;
                            if v < vecs {
                                raw[0][m] = unsafe { copy::ld_nc_v4(wa.add(16 * v as usize)) };
                                if nb < stop {
                                    raw[1][m] = unsafe { copy::ld_nc_v4(wb.add(16 * v as usize)) };
                                }
                            }
                        });
                        unroll!(8, m, {
                            let v = v0 + 32 * m as u32;
                            if v < vecs {
                                let (mut wsa, mut wsb, mut hs) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 8]);
                                E::unpack(raw[0][m], &mut wsa);
                                E::unpack(raw[1][m], &mut wsb);
                                unroll!(4, r, {
                                    if r < R && (r as u32) < rows {
                                        E::unpack(unsafe { copy::ld_shared_v4(smem + X + 2 * r as u32 * chunk + 16 * v) }, &mut hs);
                                        unroll!(8, j, {
                                            acc[ia][r] = fma(hs[j], wsa[j], acc[ia][r]);
                                            acc[ib][r] = fma(hs[j], wsb[j], acc[ib][r]);
                                        });
                                    }
                                });
                            }
                        });
                        v0 += 32 * VECS as u32;
                    }
                }
            });
            k0 += cols;
        }
        unroll!(8, i, {
            let n = n0 + warp_id + 4 * i as u32;
            unroll!(4, r, {
                if r < R {
                    acc[i][r] = warp::sum_f32(acc[i][r], 32);
                }
            });
            if lane == 0 && n < stop {
                unroll!(4, r, {
                    if r < R && (r as u32) < rows {
                        unsafe { *(y.add(at(base + r as u32, n, p.hidden) as usize) as *mut u16) = bits16::<E>(acc[i][r] + b2[i]) };
                    }
                });
            }
        });
        n0 += 4 * COLS_PER_WARP;
    }
}

/// 64-byte K steps of GEMM0's tensor-core tiles a lane has in flight: two 16-byte weight loads
/// a step, so as many bytes as the CUDA-core dot products (`lean::gemm0_dots`).
const GEMM0_MMA_STEPS: usize = 8;
/// GEMM1's tensor-core tiles a pass (16 output columns each, one h load for all) and the steps
/// of each in flight.
const GEMM1_MMA_TILES: usize = 4;
const GEMM1_MMA_STEPS: usize = 2;

/// A thread's place in expert row `a`'s tensor-core tiles: its warp and lane, the lane's
/// fragment row g and column pair t (lane = 4 g + t), the expert, its kept rows and its first
/// h and y row.
struct MmaLane {
    warp: u32,
    lane: u32,
    g: u32,
    t: u32,
    e: u32,
    rows: u32,
    base: u32,
}

impl MmaLane {
    /// # Safety
    /// After the routing; `a` below the active experts.
    #[inline(always)]
    unsafe fn of(smem: u32, a: u32) -> Self {
        let (warp, lane) = (thread_idx() / 32, thread_idx() % 32);
        let e = unsafe { copy::ld_shared_u32(smem + ACTIVE + 4 * a) };
        let (rows, base) = unsafe { (kept_rows(smem, a), first_row(smem, a)) };
        MmaLane { warp, lane, g: lane / 4, t: lane % 4, e, rows, base }
    }
}

/// The expert's row that B's row `g` holds: row g, or row 0 past its rows (whose results are
/// not stored).
fn b_row(g: u32, rows: u32) -> u32 {
    if g < rows { g } else { 0 }
}

/// Warp `warp`'s quarter `[first, end)` of the 64-byte K steps of `bytes`.
fn k_quarter(warp: u32, bytes: u32) -> (u32, u32) {
    let steps = bytes.div_ceil(64);
    (warp * steps / 4, (warp + 1) * steps / 4)
}

/// GEMM0 of expert row `a`'s columns `[lo, hi)` of I on tensor cores (all threads of the block):
/// tiles of 16 weight rows, the W1 and W3 rows of 8 columns (gated) or the W1 rows of 16, by the
/// expert's staged input rows (B: row g of the tile's eight is the expert's row g, its row 0
/// past its rows, whose results are not stored); each warp a quarter of K, the quarters added in
/// warp order by warp 0, which writes h as [`gemm0`] does.
///
/// # Safety
/// All threads of the block, after the routing; `a` below the active experts with at most
/// `EXPERT_MAX_ROWS` rows; `[lo, hi)` within I.
#[inline(never)]
unsafe fn gemm0_mma<E: Mma>(p: &MoeParams, smem: u32, a: u32, lo: u32, hi: u32) {
    let MmaLane { warp, lane, g, t, e, rows, base } = unsafe { MmaLane::of(smem, a) };
    let gated = p.gated();
    let row_bytes = p.hidden * E::BYTES;
    let x = smem + X + row_bytes * unsafe { row_token(smem, a, b_row(g, rows)) } + 16 * t;
    let (s_lo, s_hi) = k_quarter(warp, row_bytes);
    let w_row = |m: u64, col: u32| m + (e * p.inter + col) as u64 * row_bytes as u64 + 16 * t as u64;
    let (m_hi, width) = if gated { (p.w3, 8) } else { (p.w1, 16) };
    let h = (p.workspace + p.ws.gemm1_partials) as *mut u8;
    let act = Act::of(p);
    let mut c = lo;
    while c < hi {
        // Tile row g: column c + g of W1; row g + 8: the same column of W3 (gated) or column
        // c + 8 + g of W1.
        let (ca, cb) = (c + g, if gated { c + g } else { c + 8 + g });
        let valid = (ca < hi) as u32 | ((cb < hi) as u32) << 1;
        let mut d = [[0.0f32; 4]; 1];
        unsafe {
            mma_dots::<E, 1, GEMM0_MMA_STEPS, true>(&[w_row(p.w1, ca)], &[w_row(m_hi, cb)], valid, x as u64, row_bytes, s_lo, s_hi, &mut d)
        };
        unsafe { copy::st_shared_v4(smem + H + 16 * thread_idx(), d[0].map(f32::to_bits)) };
        sync::sync_threads();
        if warp == 0 {
            let s = unsafe { quarters(smem + H + 16 * lane) };
            // Lane (g, t) holds rows 2t, 2t + 1 of tile rows g (s[0], s[1]) and g + 8 (s[2], s[3]).
            let bias = p.has_bias();
            let b_a = if bias && ca < hi { unsafe { E::load(p.b1 as *const u8, e * p.inter + ca) } } else { 0.0 };
            let b_b = if bias && cb < hi { unsafe { E::load(m_hi_bias(p) as *const u8, e * p.inter + cb) } } else { 0.0 };
            let mut vals = [0.0f32; 8];
            vals[0] = s[0] + b_a;
            vals[1] = s[1] + b_a;
            vals[2] = s[2] + b_b;
            vals[3] = s[3] + b_b;
            let up = [act.up(vals[2]), act.up(vals[3])];
            act.apply8(&mut vals);
            unroll!(2, i, {
                let r = 2 * t + i as u32;
                if r < rows {
                    let row = base + r;
                    if gated {
                        if ca < hi {
                            unsafe { *(h.add(at(row, ca, p.inter) as usize) as *mut u16) = bits16::<E>(vals[i] * up[i]) };
                        }
                    } else {
                        if ca < hi {
                            unsafe { *(h.add(at(row, ca, p.inter) as usize) as *mut u16) = bits16::<E>(vals[i]) };
                        }
                        if cb < hi {
                            unsafe { *(h.add(at(row, cb, p.inter) as usize) as *mut u16) = bits16::<E>(vals[2 + i]) };
                        }
                    }
                }
            });
        }
        // The next tile's sums go where these were read.
        sync::sync_threads();
        c += width;
    }
}

/// Where the second half of a GEMM0 tile's biases lives: b3 (gated) or b1.
fn m_hi_bias(p: &MoeParams) -> u64 {
    if p.gated() { p.b3 } else { p.b1 }
}

/// GEMM1's output columns `[lo, hi)` of expert row `a` on tensor cores (all threads of the
/// block): passes of [`GEMM1_MMA_TILES`] tiles of 16 W2 rows by the expert's h rows (B, read
/// from L2: other blocks wrote them before the barrier), each warp a quarter of I; warp w adds
/// the quarters of tile w in warp order through shared memory (the input rows' space, free
/// now) and writes y as [`gemm1`] does.
///
/// # Safety
/// All threads of the block, after the first barrier; as [`gemm0_mma`].
#[inline(never)]
unsafe fn gemm1_mma<E: Mma>(p: &MoeParams, smem: u32, a: u32, lo: u32, hi: u32) {
    let MmaLane { warp, lane, g, t, e, rows, base } = unsafe { MmaLane::of(smem, a) };
    let inter_bytes = p.inter * E::BYTES;
    let h = p.workspace + p.ws.gemm1_partials;
    let y = (h + y_offset(p)) as *mut u8;
    let hb = h + at(base + b_row(g, rows), 0, p.inter) + 16 * t as u64;
    let (s_lo, s_hi) = k_quarter(warp, inter_bytes);
    let w_row = |n: u32| p.w2 + (e * p.hidden + n) as u64 * inter_bytes as u64 + 16 * t as u64;
    // An expert of fewer rows may have staged its h in the space the sums take.
    sync::sync_threads();
    let mut n0 = lo;
    while n0 < hi {
        let (mut w_lo, mut w_hi, mut valid) = ([0u64; GEMM1_MMA_TILES], [0u64; GEMM1_MMA_TILES], 0u32);
        unroll!(4, i, {
            let (na, nb) = (n0 + 16 * i as u32 + g, n0 + 16 * i as u32 + 8 + g);
            w_lo[i] = w_row(na);
            w_hi[i] = w_row(nb);
            valid |= ((na < hi) as u32) << (2 * i) | ((nb < hi) as u32) << (2 * i + 1);
        });
        let mut d = [[0.0f32; 4]; GEMM1_MMA_TILES];
        unsafe { mma_dots::<E, GEMM1_MMA_TILES, GEMM1_MMA_STEPS, false>(&w_lo, &w_hi, valid, hb, inter_bytes, s_lo, s_hi, &mut d) };
        unroll!(4, i, {
            unsafe { copy::st_shared_v4(smem + X + 16 * (128 * i as u32 + thread_idx()), d[i].map(f32::to_bits)) };
        });
        sync::sync_threads();
        let s = unsafe { quarters(smem + X + 16 * (128 * warp + lane)) };
        let (na, nb) = (n0 + 16 * warp + g, n0 + 16 * warp + 8 + g);
        let bias = p.has_bias();
        let b_a = if bias && na < hi { unsafe { E::load(p.b2 as *const u8, e * p.hidden + na) } } else { 0.0 };
        let b_b = if bias && nb < hi { unsafe { E::load(p.b2 as *const u8, e * p.hidden + nb) } } else { 0.0 };
        unroll!(2, i, {
            let r = 2 * t + i as u32;
            if r < rows {
                if na < hi {
                    unsafe { *(y.add(at(base + r, na, p.hidden) as usize) as *mut u16) = bits16::<E>(s[i] + b_a) };
                }
                if nb < hi {
                    unsafe { *(y.add(at(base + r, nb, p.hidden) as usize) as *mut u16) = bits16::<E>(s[2 + i] + b_b) };
                }
            }
        });
        sync::sync_threads();
        n0 += 16 * GEMM1_MMA_TILES as u32;
    }
}

/// The four warps' partial sums at `at`, `at + 512`, ... added in warp order.
///
/// # Safety
/// After the block barrier that follows their stores.
#[inline(always)]
unsafe fn quarters(at: u32) -> [f32; 4] {
    let mut s = [0.0f32; 4];
    unroll!(4, w, {
        let v = unsafe { copy::ld_shared_v4(at + 512 * w as u32) };
        unroll!(4, i, { s[i] += f32::from_bits(v[i]) });
    });
    s
}

/// Adds this lane's part of `TILES` m16n8k16 products over the 64-byte K steps `[first, end)`:
/// tile i's rows g and g + 8 start at `w_lo[i]` and `w_hi[i]` (bit 2i and 2i + 1 of `valid`: the
/// row is loaded, else zeros), B's row g at `b` (shared memory where `SHARED_B`, else global,
/// read at L2), each address already at the lane's 16 bytes (16 t) of a step, `bytes` of K in
/// all (bytes past it are zeros). The lane's 16 bytes of a step hold K bytes 16 t .. 16 t + 16;
/// the fragments take them as K bytes 4 t, 16 + 4 t (first MMA) and again (second): the same
/// permutation of K for A and B, so the product is unchanged.
///
/// A warp's weight load covers 64 bytes of each of eight rows, so it asks L2 to fetch 256 bytes
/// a miss: with plain loads these tiles streamed at ~2.6 TB/s (perf log v40; Mixtral-size T = 8
/// 0.93 -> 0.73 ms, ~3.5 TB/s over the kernel, as the one-row dot products at T = 1).
///
/// # Safety
/// The valid rows and B hold `bytes` bytes from their addresses less 16 t.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn mma_dots<E: Mma, const TILES: usize, const STEPS: usize, const SHARED_B: bool>(
    w_lo: &[u64; TILES],
    w_hi: &[u64; TILES],
    valid: u32,
    b: u64,
    bytes: u32,
    first: u32,
    end: u32,
    d: &mut [[f32; 4]; TILES],
) {
    let lane_bytes = 16 * (thread_idx() % 4);
    let mut s0 = first;
    while s0 < end {
        let mut lo = [[[0u32; 4]; STEPS]; TILES];
        let mut hi = [[[0u32; 4]; STEPS]; TILES];
        let mut xb = [[0u32; 4]; STEPS];
        unroll!(8, s < STEPS, {
            let off = 64 * (s0 + s as u32);
            if s0 + (s as u32) < end && off + lane_bytes < bytes {
                unroll!(4, i, {
                    if i < TILES {
                        if valid >> (2 * i) & 1 != 0 {
                            lo[i][s] = unsafe { copy::ld_nc_v4_l2_256((w_lo[i] + off as u64) as *const u8) };
                        }
                        if valid >> (2 * i + 1) & 1 != 0 {
                            hi[i][s] = unsafe { copy::ld_nc_v4_l2_256((w_hi[i] + off as u64) as *const u8) };
                        }
                    }
                });
            }
        });
        unroll!(8, s < STEPS, {
            let off = 64 * (s0 + s as u32);
            if s0 + (s as u32) < end && off + lane_bytes < bytes {
                xb[s] = if SHARED_B {
                    unsafe { copy::ld_shared_v4(b as u32 + off) }
                } else {
                    unsafe { copy::ld_cg_v4((b + off as u64) as *const u8) }
                };
            }
        });
        unroll!(8, s < STEPS, {
            if s0 + (s as u32) < end {
                unroll!(4, i, {
                    if i < TILES {
                        E::mma(&mut d[i], &[lo[i][s][0], hi[i][s][0], lo[i][s][1], hi[i][s][1]], xb[s][0], xb[s][1]);
                        E::mma(&mut d[i], &[lo[i][s][2], hi[i][s][2], lo[i][s][3], hi[i][s][3]], xb[s][2], xb[s][3]);
                    }
                });
            }
        });
        s0 += STEPS as u32;
    }
}

/// out[t] = Σ_j w_tj · y[pair(t, j)], j in order over the token's kept choices (the combine's
/// sum over rounded expert outputs), 8 columns a thread over the whole grid.
///
/// # Safety
/// All threads, after the second barrier.
unsafe fn combine<E: Element>(p: &MoeParams, smem: u32) {
    let k = p.top_k;
    let vecs = p.hidden / 8;
    let y = (p.workspace + p.ws.gemm1_partials + y_offset(p)) as *const u8;
    let weights = (p.workspace + p.ws.topk_weight) as *const f32;
    let mut unit = block_idx() * 128 + thread_idx();
    while unit < p.tokens * vecs {
        let (t, v) = (unit / vecs, unit % vecs);
        let mut out = [0.0f32; 8];
        for j in 0..k {
            let pair = unsafe { copy::ld_shared_u32(smem + PAIR + 4 * (t * k + j)) };
            if pair != NONE {
                let w = unsafe { *weights.add((t * k + j) as usize) };
                let row = unsafe { first_row(smem, pair >> 8) } + (pair & 0xff);
                let raw = unsafe { copy::ld_cg_v4(y.add(at(row, 8 * v, p.hidden) as usize)) };
                let mut ys = [0.0f32; 8];
                E::unpack(raw, &mut ys);
                // As the combine: the product rounded, then added.
                unroll!(8, i, { out[i] += w * ys[i] });
            }
        }
        let dst = (p.out + (t * p.hidden + 8 * v) as u64 * E::BYTES as u64) as *mut u8;
        unsafe { copy::st_v4(dst, E::pack(&out)) };
        unit += grid_dim() * 128;
    }
}

/// `v` rounded to the 16-bit dtype, as its bits.
#[inline(always)]
fn bits16<E: Element>(v: f32) -> u16 {
    let mut vals = [0.0f32; 8];
    vals[0] = v;
    E::pack(&vals)[0] as u16
}

/// The sweep forward with bf16 activations and weights.
///
/// # Safety
/// See [`forward`].
#[allow(improper_gpu_kernel_arg)]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn moe_sweep_bf16(p: MoeParams) {
    unsafe { forward::<Bf16>(&p) }
}

/// The sweep forward with f16 activations and weights.
///
/// # Safety
/// See [`forward`].
#[allow(improper_gpu_kernel_arg)]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn moe_sweep_f16(p: MoeParams) {
    unsafe { forward::<F16>(&p) }
}
