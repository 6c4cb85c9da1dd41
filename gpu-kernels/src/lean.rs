//! The lean decode forward: one plain launch for at most `layout::LEAN_MAX_TOKENS` tokens on one GPU,
//! with no grid barrier, no task queue and no waits. Every block computes the gate logits and
//! routes every token itself (the same code on the same inputs: the same bits), then takes its
//! share of the (expert, [`LEAN_SLICE`] columns of I) items: GEMM0 of the slice for the expert's
//! kept rows, the activation, and the slice's part of GEMM1 over every output column, an f32
//! partial. The last block to finish (an epoch-stamped arrival count) adds each expert output's
//! partials in slice order, and the token's choices in j order as the combine does, so the
//! output repeats bitwise. A block never waits for another, so the launch cannot hang, and
//! the fixed cost of a forward is one launch and a few dependent round trips (perf log v34).

use core::intrinsics::gpu::gpu_launch_sized_workgroup_mem;
use core::mem::offset_of;

use crate::fault::{self, Deadline};
use crate::gemm::activation::Act;
use crate::gemm::element::{Bf16, Element, F16};
use crate::gemm::epilogue::f32x8;
use crate::layout::{
    DROPPED, EXPERT_MAX_ROWS, LEAN_MAX_PAIRS, LEAN_ROWS, LEAN_SHARED_BYTES, LEAN_SLICE, LEAN_X_BYTES, MoeParams, NONE, flags, lean_items,
    lean_partial_row, logits_stride, timeline,
};
use crate::moe::SharedBase;
use crate::ptx::{copy, sync, warp};
use crate::util::{block_idx, grid_dim, thread_idx};
use crate::{block, gate, grid};

/// A lean block's shared memory, all of it (`layout::LEAN_SHARED_BYTES`): smaller than the
/// persistent engines' layout, so three sweep blocks fit an SM.
#[repr(C)]
pub(crate) struct Block {
    /// Routed (token, choice) pairs per expert.
    count: [u32; 256],
    /// The expert's item row: its index among the experts with kept rows (in expert order).
    index: [u32; 256],
    /// Experts with kept rows, in expert order, with their kept rows' tokens (in token order).
    active: [u32; LEAN_MAX_PAIRS as usize],
    rows: [u32; LEAN_MAX_PAIRS as usize],
    tokens: [[u32; EXPERT_MAX_ROWS as usize]; LEAN_MAX_PAIRS as usize],
    /// Per pair t·k + j: its expert's item row << 8 | its row there, or `NONE` when dropped.
    pair: [u32; LEAN_MAX_PAIRS as usize],
    /// Experts with kept rows; whether this block arrived last.
    active_count: u32,
    last: u32,
    _pad: [u32; 2],
    /// Each pair's expert, as routed (read once from the routing table).
    choice: [u32; LEAN_MAX_PAIRS as usize],
    /// The sweep's first h and y row of each expert row: its kept rows follow those of the
    /// expert rows before it.
    first_row: [u32; LEAN_MAX_PAIRS as usize],
    /// GEMM0's output of the current item (rounded to the layer's dtype, as f32; the first
    /// `LEAN_ROWS` rows); the sweep's tensor-core partial sums, 16 bytes a thread.
    h: [[f32; LEAN_SLICE as usize]; EXPERT_MAX_ROWS as usize],
    /// This block's copy of the launch parameters.
    params: [u8; 512],
    /// Block scan scratch; the grid barrier's broadcast word (the sweep).
    scan: [u32; 8],
    broadcast: [u32; 4],
    /// The tokens' input rows (`LEAN_X_BYTES` at most), copied at the start.
    x: [u8; LEAN_X_BYTES as usize],
}

const COUNT: u32 = offset_of!(Block, count) as u32;
const INDEX: u32 = offset_of!(Block, index) as u32;
pub(crate) const ACTIVE: u32 = offset_of!(Block, active) as u32;
const ROWS: u32 = offset_of!(Block, rows) as u32;
const TOKENS: u32 = offset_of!(Block, tokens) as u32;
pub(crate) const PAIR: u32 = offset_of!(Block, pair) as u32;
pub(crate) const ACTIVE_COUNT: u32 = offset_of!(Block, active_count) as u32;
const LAST: u32 = offset_of!(Block, last) as u32;
const CHOICE: u32 = offset_of!(Block, choice) as u32;
const FIRST_ROW: u32 = offset_of!(Block, first_row) as u32;
pub(crate) const H: u32 = offset_of!(Block, h) as u32;
const PARAMS: u32 = offset_of!(Block, params) as u32;
const SCAN: u32 = offset_of!(Block, scan) as u32;
pub(crate) const BROADCAST: u32 = offset_of!(Block, broadcast) as u32;
pub(crate) const X: u32 = offset_of!(Block, x) as u32;
const _: () = assert!(core::mem::size_of::<Block>() as u32 == LEAN_SHARED_BYTES);
const _: () = assert!(H.is_multiple_of(16) && X.is_multiple_of(16));

/// Warps of a lean block (it is a 128-thread block, as `gate::route_all` expects).
const WARPS: u32 = 4;
/// GEMM0: a warp's columns of a slice, two lanes a column, each with this many 16-byte weight
/// vectors in flight.
const COLUMNS: u32 = LEAN_SLICE / WARPS;
const GEMM0_VECS: usize = 8;
/// Gate: experts a warp takes at once, for up to [`GATE_TOKENS`] tokens (the 32 sums of
/// `warp_sums`); more tokens take several passes.
pub(crate) const GATE_EXPERTS: usize = 8;
pub(crate) const GATE_TOKENS: u32 = 4;
const _: () = assert!(GATE_EXPERTS * GATE_TOKENS as usize == 32);
// `prepare` sums experts (at most 128 a scan) and kept rows (at most the pairs) in 16-bit halves.
const _: () = assert!(LEAN_MAX_PAIRS < 1 << 16);

/// The forward (see the module docs).
///
/// # Safety
/// Launched by the host with 128 threads, `layout::LEAN_SHARED_BYTES`, a grid of
/// `layout::lean_grid` blocks, and parameters whose `tokens` is at most
/// `layout::LEAN_MAX_TOKENS` (their rows within `layout::LEAN_X_BYTES`) and whose `gate_splits`
/// is 1, on one GPU.
#[inline(always)]
unsafe fn forward<E: Element>(param: &MoeParams) {
    let dense = param.flags & flags::LEAN_DENSE != 0;
    // A dense launch's block 0 routes; every other block runs one expert's slice for every
    // token, whichever experts the tokens choose.
    let (p, smem) = unsafe { start::<E>(param, !dense || block_idx() == 0) };
    unsafe {
        if dense {
            if block_idx() > 0 {
                item_any::<E>(p, smem, dense_item(p, block_idx() - 1));
            }
        } else {
            let items = lean_items(copy::ld_shared_u32(smem + ACTIVE_COUNT), p.inter);
            let mut i = block_idx();
            while i < items {
                item_any::<E>(p, smem, routed_item(p, smem, i));
                i += grid_dim();
            }
        }
        fault::mark_now(p, timeline::LAST_TASK);
        if arrive(p, smem) {
            if dense {
                dense_pairs(p, smem);
            }
            reduce::<E>(p, smem);
        }
    }
    // The last block's end is the forward's (it reduced after every other block arrived).
    fault::mark_now(p, timeline::END);
}

/// The start of every lean launch and of the sweep: the parameters into shared memory, then
/// the tokens' rows land there while the block (where `route`) computes the gate logits, routes
/// the tokens and, unless the launch is dense, ranks the choices ([`prepare`]). Returns the
/// block's parameters and its shared memory's address.
///
/// # Safety
/// All threads, once, at the start of a launch of [`forward`] or the sweep.
#[inline(always)]
pub(crate) unsafe fn start<E: Element>(param: &MoeParams, route: bool) -> (&'static MoeParams, u32) {
    let base = gpu_launch_sized_workgroup_mem::<SharedBase>() as *mut u8;
    let smem = copy::smem_addr(base);
    let p = unsafe { &*(base.add(PARAMS as usize) as *const MoeParams) };
    if thread_idx() == 0 {
        unsafe { (base.add(PARAMS as usize) as *mut MoeParams).write(*param) };
    }
    sync::sync_threads();
    fault::mark_now(p, timeline::START);
    unsafe {
        let x_bytes = p.tokens * p.hidden * E::BYTES;
        let mut at = 16 * thread_idx();
        while at < x_bytes {
            copy::cp_async_16(smem + X + at, (p.x as *const u8).add(at as usize));
            at += 16 * 128;
        }
        copy::cp_async_commit();
        // Every block that routes writes the same logits and routing tables (relaxed stores of
        // equal values) and reads back its own after its barrier. A token with non-finite
        // logits is reported (the error record) and keeps the routing of an earlier forward,
        // which only ever names experts below E: the forward computes in bounds and fails.
        if route {
            logits_any::<E>(p, smem);
            fault::mark_now(p, timeline::LOGITS_DONE);
            sync::sync_threads();
            // A dense launch's last block ranks the choices (`dense_pairs`).
            route_and_rank(p, smem, p.flags & flags::LEAN_DENSE == 0);
        }
        copy::cp_async_wait::<0>();
        sync::sync_threads();
    }
    fault::mark_now(p, timeline::FIRST_TASK);
    (p, smem)
}

/// Every gate logit of the forward's tokens, by this block's warps alone, into the routing's
/// `[token][expert]` table (one K split), with the code for its token count only (as the items:
/// perf log v34 c10).
///
/// # Safety
/// All threads; `p.tokens` at most `layout::LEAN_MAX_TOKENS`.
unsafe fn logits_any<E: Element>(p: &MoeParams, smem: u32) {
    // A sweep's few experts of long rows: the four warps split K (one warp would take each
    // expert's whole row in turn).
    let split = p.flags & flags::LEAN_SWEEP != 0 && p.experts <= GATE_EXPERTS as u32;
    unsafe {
        if split {
            logits_passes::<E, 4>(p, smem, |_| 0, 1);
        } else {
            logits_passes::<E, 1>(p, smem, |_| 0, 1);
        }
    }
}

/// [`logits`] for every [`GATE_TOKENS`] tokens in turn, with the code for the pass's token
/// count; `group(t0)` is the block's first group of eight experts in the pass from token `t0`.
///
/// # Safety
/// As [`logits`], for every pass.
#[inline(always)]
unsafe fn logits_passes<E: Element, const SPLIT: u32>(p: &MoeParams, smem: u32, group: impl Fn(u32) -> u32, groups: u32) {
    let mut t0 = 0;
    while t0 < p.tokens {
        if t0 > 0 {
            // The passes share the staging space.
            sync::sync_threads();
        }
        unsafe {
            match p.tokens - t0 {
                1 => logits::<E, 8, SPLIT>(p, smem, t0, group(t0), groups),
                2 => logits::<E, 16, SPLIT>(p, smem, t0, group(t0), groups),
                _ => logits::<E, 32, SPLIT>(p, smem, t0, group(t0), groups),
            }
        }
        t0 += GATE_TOKENS;
    }
}

/// The sweep's gate for more than eight experts or four tokens: block b computes the logits of
/// the units b, b + grid, ... of (four tokens, eight experts) (the four warps splitting K as for
/// at most eight), a grid barrier publishes them, and every block routes and ranks as [`start`]
/// does. Each block computing every logit read them all from L2 in every block: at E = 64,
/// H = 2048 the gate took 27 us (perf log v35 c4). False when the barrier gave up (recorded).
///
/// # Safety
/// All threads of every block of the sweep's cooperative launch, after [`start`] without
/// routing.
pub(crate) unsafe fn route_shared<E: Element>(p: &MoeParams, smem: u32, dl: &Deadline) -> bool {
    let (grid, groups) = (grid_dim(), p.experts.div_ceil(GATE_EXPERTS as u32));
    unsafe {
        // Unit (token group q, expert group g) is u = q·groups + g: this block's first g.
        logits_passes::<E, 4>(p, smem, |t0| (block_idx() + grid - (t0 / GATE_TOKENS * groups) % grid) % grid, grid);
        fault::mark_now(p, timeline::LOGITS_DONE);
        if !grid::barrier::<true>(p, dl, smem) {
            return false;
        }
        route_and_rank(p, smem, true);
    }
    true
}

/// The routing after the logits, as [`start`] and [`route_shared`] both run it: every token's
/// top-k (`gate::route_all`), then, where `rank`, the ranking of the choices ([`prepare`]).
///
/// # Safety
/// All threads, once the logits are in the routing table.
#[inline(always)]
unsafe fn route_and_rank(p: &MoeParams, smem: u32, rank: bool) {
    fault::mark_now(p, timeline::ROUTE_BEGIN);
    unsafe { gate::route_all::<true>(p) };
    fault::mark_now(p, timeline::GATE_DONE);
    sync::sync_threads();
    if rank {
        unsafe { prepare(p, smem) };
    }
}

/// [`logits_any`] for tokens `t0 ..` (at most `N / 8` of them): warp w takes experts w, w + 4,
/// ..., eight at a time, their weight vectors in flight together; each lane sums its vectors in
/// order, then one transposing butterfly ([`warp_sums`]) gives lane 8 t + g the sum of (expert g,
/// token t). With `SPLIT` = 4 every warp takes the groups of eight experts `group`,
/// `group + groups`, ... over a quarter of K instead, and warp 0 adds the quarters in order. The
/// same code wherever a logit is computed: the same bits.
///
/// # Safety
/// As [`logits_any`], with `p.tokens - t0` at most `N / 8`; every thread of the block.
#[inline(never)]
unsafe fn logits<E: Element, const N: usize, const SPLIT: u32>(p: &MoeParams, smem: u32, t0: u32, group: u32, groups: u32) {
    let (warp, lane) = (thread_idx() / 32, thread_idx() % 32);
    let (experts, tokens) = (p.experts, p.tokens - t0);
    let (x, out) = ((p.x + (t0 * p.hidden * E::BYTES) as u64) as *const u8, (p.workspace + p.ws.logits) as *mut f32);
    let out = unsafe { out.add((t0 * logits_stride(experts)) as usize) };
    let row_bytes = p.hidden * E::BYTES;
    let vecs = row_bytes / 16;
    let stride = logits_stride(experts);
    let (first, step, next) = if SPLIT == 1 {
        (warp, WARPS, WARPS * GATE_EXPERTS as u32)
    } else {
        (group * GATE_EXPERTS as u32, 1, groups * GATE_EXPERTS as u32)
    };
    let (v_first, v_end) = if SPLIT == 1 { (0, vecs) } else { (warp * vecs / SPLIT, (warp + 1) * vecs / SPLIT) };
    let expert = |e0: u32, g: usize| e0 + step * g as u32;
    let mut e0 = first;
    while e0 < experts {
        // acc[8 t + g]: token t, expert g of this step (the first N).
        let mut acc = [0.0f32; 32];
        let mut v = v_first + lane;
        while v < v_end {
            let mut w_raw = [[0u32; 4]; GATE_EXPERTS];
            let mut x_raw = [[0u32; 4]; GATE_TOKENS as usize];
            unroll!(8, g, {
                if expert(e0, g) < experts {
                    let at = (expert(e0, g) * row_bytes + 16 * v) as usize;
                    w_raw[g] = unsafe { copy::ld_nc_v4((p.gate_w as *const u8).add(at)) };
                }
            });
            unroll!(4, t, {
                if 8 * t < N && (t as u32) < tokens {
                    x_raw[t] = unsafe { copy::ld_nc_v4(x.add((t as u32 * row_bytes + 16 * v) as usize)) };
                }
            });
            unroll!(4, t, {
                if 8 * t < N && (t as u32) < tokens {
                    let mut xs = [0.0f32; 8];
                    E::unpack(x_raw[t], &mut xs);
                    unroll!(8, g, {
                        let mut ws = [0.0f32; 8];
                        E::unpack(w_raw[g], &mut ws);
                        unroll!(8, j, {
                            if j < E::PER_VEC {
                                acc[8 * t + g] = fma(xs[j], ws[j], acc[8 * t + g]);
                            }
                        });
                    });
                }
            });
            v += 32;
        }
        let mut sum = warp_sums::<N>(&acc, lane);
        if SPLIT > 1 {
            // The quarters in order, by warp 0 (the item's staging space is free here).
            unsafe { copy::st_shared_u32(smem + H + 4 * (32 * warp + lane), sum.to_bits()) };
            sync::sync_threads();
            sum = 0.0;
            for w in 0..SPLIT {
                sum += f32::from_bits(unsafe { copy::ld_shared_u32(smem + H + 4 * (32 * w + lane)) });
            }
        }
        let (t, g) = (lane / 8, lane as usize % 8);
        if (SPLIT == 1 || warp == 0) && (lane as usize) < N && t < tokens && expert(e0, g) < experts {
            unsafe { *out.add((t * stride + expert(e0, g)) as usize) = sum };
        }
        e0 += next;
        if SPLIT > 1 && e0 < experts {
            // The next group's quarters go where this one's were read.
            sync::sync_threads();
        }
    }
}

/// The warp's sum of element `lane % N` of every lane's first `N` values (N a power of two up to
/// 32), in N - 1 + log2(32 / N) shuffles: each transposing step halves the values a lane holds,
/// keeping the half its lane bit selects and adding the partner's copy of it (bits N / 2 .. 1),
/// then plain butterfly steps add the groups of N lanes (bits N .. 16). A fixed order: the same
/// bits on every run.
#[inline(always)]
fn warp_sums<const N: usize>(v: &[f32; 32], lane: u32) -> f32 {
    let mut a = *v;
    let mut half = N as u32 / 2;
    while half > 0 {
        let upper = lane & half != 0;
        for i in 0..half as usize {
            let (lo, hi) = (a[i], a[i + half as usize]);
            let (keep, send) = if upper { (hi, lo) } else { (lo, hi) };
            a[i] = keep + warp::shfl_xor_f32(send, half);
        }
        half /= 2;
    }
    let mut sum = a[0];
    let mut mask = N as u32;
    while mask < 32 {
        sum += warp::shfl_xor_f32(sum, mask);
        mask *= 2;
    }
    sum
}

/// The experts' kept rows: each (token, choice) ranks among its expert's choices in token
/// order (its slot; kept below the capacity, as the dispatch keeps them), experts with kept rows
/// are numbered in expert order. Writes the slots the host reads (`ws.route_slot`).
///
/// # Safety
/// All threads, after `gate::route_all`'s barrier; `p.tokens · p.top_k` at most
/// [`LEAN_MAX_PAIRS`].
unsafe fn prepare(p: &MoeParams, smem: u32) {
    let tid = thread_idx();
    let (k, experts) = (p.top_k, p.experts);
    let entries = p.tokens * k;
    let chosen = (p.workspace + p.ws.topk_expert) as *const u8;
    let mut e = tid;
    while e < experts {
        unsafe { copy::st_shared_u32(smem + COUNT + 4 * e, 0) };
        e += 128;
    }
    sync::sync_threads();
    let mine = if tid < entries { (unsafe { *chosen.add(tid as usize) }) as u32 } else { NONE };
    let slot = unsafe { rank_choice(smem, entries, mine) };
    if mine < experts {
        unsafe { sync::atom_add_cta_shared_u32(smem + COUNT + 4 * mine, 1) };
    }
    sync::sync_threads();
    // One scan counts the experts with kept rows (low half) and their rows (high half: the
    // sweep keeps an expert row's rows after those of the expert rows before it).
    let (mut active, mut kept_rows) = (0, 0);
    let mut e0 = 0;
    while e0 < experts {
        let e = e0 + tid;
        let kept = if e < experts { unsafe { copy::ld_shared_u32(smem + COUNT + 4 * e) }.min(p.capacity) } else { 0 };
        let (before, total) = unsafe { block::scan_u32((kept > 0) as u32 | kept << 16, smem + SCAN) };
        if kept > 0 {
            let a = active + (before & 0xffff);
            unsafe {
                copy::st_shared_u32(smem + INDEX + 4 * e, a);
                copy::st_shared_u32(smem + ACTIVE + 4 * a, e);
                copy::st_shared_u32(smem + ROWS + 4 * a, kept);
                copy::st_shared_u32(smem + FIRST_ROW + 4 * a, kept_rows + (before >> 16));
            }
        }
        active += total & 0xffff;
        kept_rows += total >> 16;
        e0 += 128;
    }
    sync::sync_threads();
    if tid < entries {
        let kept = unsafe { keep_choice(p, mine, slot) };
        let pair = if kept {
            let a = unsafe { copy::ld_shared_u32(smem + INDEX + 4 * mine) };
            unsafe { copy::st_shared_u32(smem + TOKENS + 4 * (a * EXPERT_MAX_ROWS + slot), tid / k) };
            a << 8 | slot
        } else {
            NONE
        };
        unsafe { copy::st_shared_u32(smem + PAIR + 4 * tid, pair) };
    }
    if tid == 0 {
        unsafe { copy::st_shared_u32(smem + ACTIVE_COUNT, active) };
    }
    sync::sync_threads();
}

/// Pair `thread_idx()`'s slot in its expert `mine` (`NONE` past the `entries` pairs): its rank
/// among the pairs before it that chose the same expert, as the dispatch ranks them (token
/// order). Leaves every pair's expert in the block's choice table.
///
/// # Safety
/// All threads.
unsafe fn rank_choice(smem: u32, entries: u32, mine: u32) -> u32 {
    let tid = thread_idx();
    if tid < entries {
        unsafe { copy::st_shared_u32(smem + CHOICE + 4 * tid, mine) };
    }
    sync::sync_threads();
    let mut slot = 0;
    for i in 0..tid.min(entries) {
        if unsafe { copy::ld_shared_u32(smem + CHOICE + 4 * i) } == mine {
            slot += 1;
        }
    }
    slot
}

/// Whether the pair of thread `thread_idx()` (expert `mine`, slot `slot`) is kept under the
/// capacity; writes its slot (or `DROPPED`) for the host (`ws.route_slot`).
///
/// # Safety
/// A thread below the forward's pairs.
unsafe fn keep_choice(p: &MoeParams, mine: u32, slot: u32) -> bool {
    let kept = mine < p.experts && slot < p.capacity;
    let route_slot = (p.workspace + p.ws.route_slot) as *mut u32;
    unsafe { sync::st_relaxed_gpu_u32(route_slot.add(thread_idx() as usize), if kept { slot } else { DROPPED }) };
    kept
}

/// One item's work: GEMM0 of columns `[64 slice, 64 slice + 64)` of `expert` for `rows` rows
/// (row r is token `tokens >> 8 r & 0xff`), the activation, and the slice's GEMM1 partial into
/// partial rows `partial_row + r`.
#[derive(Clone, Copy)]
struct Item {
    expert: u32,
    slice: u32,
    partial_row: u32,
    rows: u32,
    tokens: u32,
}

/// Item `i` of the routed experts: expert row a = i / slices, slice s = i % slices, for the
/// expert's kept rows in slot order.
///
/// # Safety
/// All threads, after [`prepare`]; `i` below the forward's items.
unsafe fn routed_item(p: &MoeParams, smem: u32, i: u32) -> Item {
    let slices = p.inter / LEAN_SLICE;
    let (a, slice) = (i / slices, i % slices);
    let (rows, tokens) = unsafe { expert_rows(smem, a) };
    let expert = unsafe { copy::ld_shared_u32(smem + ACTIVE + 4 * a) };
    Item { expert, slice, partial_row: lean_partial_row(a, slice, slices), rows, tokens }
}

/// Expert row `a`'s kept rows and the tokens of its first `LEAN_ROWS`, 8 bits each in slot
/// order (the routed items' and the sweep's rows).
///
/// # Safety
/// After [`prepare`].
pub(crate) unsafe fn expert_rows(smem: u32, a: u32) -> (u32, u32) {
    let rows = unsafe { kept_rows(smem, a) };
    let mut tokens = 0;
    unroll!(4, r, {
        if (r as u32) < rows.min(LEAN_ROWS) {
            tokens |= unsafe { row_token(smem, a, r as u32) } << (8 * r);
        }
    });
    (rows, tokens)
}

/// Expert row `a`'s kept rows.
///
/// # Safety
/// After [`prepare`].
pub(crate) unsafe fn kept_rows(smem: u32, a: u32) -> u32 {
    unsafe { copy::ld_shared_u32(smem + ROWS + 4 * a) }
}

/// The token of expert row `a`'s row `r` (below its kept rows).
///
/// # Safety
/// After [`prepare`].
pub(crate) unsafe fn row_token(smem: u32, a: u32, r: u32) -> u32 {
    unsafe { copy::ld_shared_u32(smem + TOKENS + 4 * (a * EXPERT_MAX_ROWS + r)) }
}

/// The sweep's first h and y row of expert row `a`.
///
/// # Safety
/// After [`prepare`] of a sweep launch.
pub(crate) unsafe fn first_row(smem: u32, a: u32) -> u32 {
    unsafe { copy::ld_shared_u32(smem + FIRST_ROW + 4 * a) }
}

/// Item `i` of a dense launch (`flags::LEAN_DENSE`): expert i / slices, slice i % slices, for
/// every token in token order, chosen or not. Its partial rows are the expert's own, so the
/// last block finds a (token, choice)'s partials from the routing alone ([`dense_pairs`]).
fn dense_item(p: &MoeParams, i: u32) -> Item {
    let slices = p.inter / LEAN_SLICE;
    let (expert, slice) = (i / slices, i % slices);
    Item { expert, slice, partial_row: lean_partial_row(expert, slice, slices), rows: p.tokens, tokens: 0x0302_0100 }
}

/// Runs `item` with the code for its rows and gating only: unrolled for four rows and both
/// kinds, a launch fetched and issued every copy (perf log v34 c5: a third of the samples
/// waited for instructions).
///
/// # Safety
/// All threads, after [`prepare`] (or in a dense launch, after the rows landed).
unsafe fn item_any<E: Element>(p: &MoeParams, smem: u32, item: Item) {
    let Item { expert: e, slice: s, partial_row: row, rows, tokens: t } = item;
    unsafe {
        match (rows, p.gated()) {
            (1, false) => run_item::<E, 1, false>(p, smem, e, s, row, rows, t),
            (1, true) => run_item::<E, 1, true>(p, smem, e, s, row, rows, t),
            (2, false) => run_item::<E, 2, false>(p, smem, e, s, row, rows, t),
            (2, true) => run_item::<E, 2, true>(p, smem, e, s, row, rows, t),
            (_, false) => run_item::<E, 4, false>(p, smem, e, s, row, rows, t),
            (_, true) => run_item::<E, 4, true>(p, smem, e, s, row, rows, t),
        }
    }
}

/// [`item_any`] for at most `R` rows, gated or not (the [`Item`]'s fields as scalars: passed
/// whole, the struct went through the stack).
///
/// # Safety
/// As [`item_any`].
#[inline(never)]
#[allow(clippy::too_many_arguments)]
unsafe fn run_item<E: Element, const R: usize, const GATED: bool>(
    p: &MoeParams,
    smem: u32,
    e: u32,
    s: u32,
    first_row: u32,
    rows: u32,
    tokens: u32,
) {
    let (warp, lane) = (thread_idx() / 32, thread_idx() % 32);
    let row_bytes = p.hidden * E::BYTES;
    let x = staged_rows::<R>(smem, row_bytes, rows, tokens);
    // GEMM0: warp w takes the slice's columns 16 w .. 16 w + 16 at once, two lanes a column,
    // each lane every other 16-byte vector of the column's K, `GEMM0_VECS` loads in flight.
    let c_first = s * LEAN_SLICE;
    let bias = p.has_bias();
    let (col, half) = (c_first + warp * COLUMNS + lane / 2, lane % 2);
    let w_row = (e * p.inter + col) as u64 * row_bytes as u64;
    let (w1, w3) = ((p.w1 + w_row) as *const u8, (p.w3 + w_row) as *const u8);
    // Biases asked for first: they land while the weights stream.
    let b1 = if bias { unsafe { E::load(p.b1 as *const u8, e * p.inter + col) } } else { 0.0 };
    let b3 = if bias && GATED { unsafe { E::load(p.b3 as *const u8, e * p.inter + col) } } else { 0.0 };
    let vecs = row_bytes / 16;
    let mut acc = [0.0f32; LEAN_ROWS as usize];
    let mut up = [0.0f32; LEAN_ROWS as usize];
    unsafe { gemm0_dots::<E, R, GATED>(w1, w3, &x, rows, vecs, half, 2, &mut acc, &mut up) };
    // The column's two lanes add their halves (the same bits in both); the first finishes it.
    let act = Act::of(p);
    let mut vals = [0.0f32; 8];
    unroll!(4, r, {
        vals[r] = acc[r] + warp::shfl_xor_f32(acc[r], 1) + b1;
        if GATED {
            up[r] += warp::shfl_xor_f32(up[r], 1);
        }
    });
    act.apply8(&mut vals);
    if half == 0 {
        unroll!(4, r, {
            if r < R && (r as u32) < rows {
                let v = if GATED { vals[r] * act.up(up[r] + b3) } else { vals[r] };
                unsafe { copy::st_shared_u32(smem + H + 4 * (r as u32 * LEAN_SLICE + col - c_first), round::<E>(v).to_bits()) };
            }
        });
    }
    sync::sync_threads();
    // GEMM1's partial: a thread takes whole output rows n (two at a time, their 128-byte W2
    // pieces in flight together) and sums the slice's 64 products alone, h read from shared
    // memory (every lane the same words): no shuffles, and the partial stores coalesce.
    let inter_bytes = (p.inter * E::BYTES) as u64;
    let w2 = (p.w2 + e as u64 * p.hidden as u64 * inter_bytes + (c_first * E::BYTES) as u64) as *const u8;
    let partials = (p.workspace + p.ws.gemm1_partials) as *mut f32;
    let mut n0 = thread_idx();
    while n0 < p.hidden {
        let mut raw = [[[0u32; 4]; 8]; 2];
        unroll!(2, u, {
            let n = n0 + 128 * u as u32;
            if n < p.hidden {
                let row = unsafe { w2.add((n as u64 * inter_bytes) as usize) };
                unroll!(8, q, { raw[u][q] = unsafe { copy::ld_nc_v4(row.add(16 * q)) } });
            }
        });
        unroll!(2, u, {
            let n = n0 + 128 * u as u32;
            if n < p.hidden {
                let mut sum = [0.0f32; LEAN_ROWS as usize];
                unroll!(8, q, {
                    let mut ws = [0.0f32; 8];
                    E::unpack(raw[u][q], &mut ws);
                    unroll!(4, r, {
                        if r < R && (r as u32) < rows {
                            let at = smem + H + 4 * (r as u32 * LEAN_SLICE + 8 * q as u32);
                            let (lo, hi) = unsafe { (copy::ld_shared_v4(at), copy::ld_shared_v4(at + 16)) };
                            let hs = f32x8(lo, hi);
                            unroll!(8, j, { sum[r] = fma(hs[j], ws[j], sum[r]) });
                        }
                    });
                });
                unroll!(4, r, {
                    if r < R && (r as u32) < rows {
                        let at = (first_row + r as u32) as usize * p.hidden as usize + n as usize;
                        unsafe { *partials.add(at) = sum[r] };
                    }
                });
            }
        });
        n0 += 256;
    }
    // The next item overwrites h.
    sync::sync_threads();
}

/// Shared addresses of up to `R` rows' staged inputs (row r is token `tokens >> 8 r & 0xff`, rows
/// of `row_bytes`): the items' and the sweep's GEMM0 operands.
#[inline(always)]
pub(crate) fn staged_rows<const R: usize>(smem: u32, row_bytes: u32, rows: u32, tokens: u32) -> [u32; LEAN_ROWS as usize] {
    let mut x = [0u32; LEAN_ROWS as usize];
    unroll!(4, r, {
        if r < R && (r as u32) < rows {
            x[r] = smem + X + row_bytes * (tokens >> (8 * r) & 0xff);
        }
    });
    x
}

/// GEMM0's dot products of one column for up to `R` rows: adds x_r · W1 (and x_r · W3) over
/// this lane's 16-byte vectors `first`, `first + stride`, ... of the column's weight rows
/// (`vecs` vectors), `GEMM0_VECS` loads in flight, each row's input at shared address `x[r]`.
/// The lean items (two lanes a column) and the sweep (a warp a column) share it.
///
/// # Safety
/// `w1` (and `w3` when gated) hold `vecs` vectors; `x[r]` the rows' staged inputs.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm0_dots<E: Element, const R: usize, const GATED: bool>(
    w1: *const u8,
    w3: *const u8,
    x: &[u32; LEAN_ROWS as usize],
    rows: u32,
    vecs: u32,
    first: u32,
    stride: u32,
    acc: &mut [f32; LEAN_ROWS as usize],
    up: &mut [f32; LEAN_ROWS as usize],
) {
    let mut v0 = first;
    while v0 < vecs {
        let mut w_raw = [[0u32; 4]; GEMM0_VECS];
        let mut u_raw = [[0u32; 4]; GEMM0_VECS];
        unroll!(8, u, {
            let v = v0 + stride * u as u32;
            if v < vecs {
                w_raw[u] = unsafe { copy::ld_nc_v4(w1.add(16 * v as usize)) };
                if GATED {
                    u_raw[u] = unsafe { copy::ld_nc_v4(w3.add(16 * v as usize)) };
                }
            }
        });
        unroll!(8, u, {
            let v = v0 + stride * u as u32;
            if v < vecs {
                let (mut ws, mut us, mut xs) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 8]);
                E::unpack(w_raw[u], &mut ws);
                if GATED {
                    E::unpack(u_raw[u], &mut us);
                }
                unroll!(4, r, {
                    if r < R && (r as u32) < rows {
                        E::unpack(unsafe { copy::ld_shared_v4(x[r] + 16 * v) }, &mut xs);
                        unroll!(8, j, {
                            if j < E::PER_VEC {
                                acc[r] = fma(xs[j], ws[j], acc[r]);
                                if GATED {
                                    up[r] = fma(xs[j], us[j], up[r]);
                                }
                            }
                        });
                    }
                });
            }
        });
        v0 += stride * GEMM0_VECS as u32;
    }
}

/// Counts this block done; true in the block that arrived last (all of them share its verdict).
/// The word holds the epoch in its high half: the first arrival of a launch raises it to the
/// launch's epoch with no count, whatever an earlier launch left.
///
/// # Safety
/// All threads, after their items.
unsafe fn arrive(p: &MoeParams, smem: u32) -> bool {
    sync::sync_threads();
    if thread_idx() == 0 {
        let word = unsafe { &raw mut (*fault::control(p)).lean_arrivals };
        let epoch = (p.epoch as u64) << 32;
        // Every thread's partial stores, ordered by the barrier, before the count.
        sync::fence_acq_rel_gpu();
        let old = unsafe {
            sync::red_max_relaxed_gpu_u64(word, epoch);
            sync::atom_add_acq_rel_gpu_u64(word, 1)
        };
        let last = old >> 32 == p.epoch as u64 && (old as u32) + 1 == grid_dim();
        unsafe { copy::st_shared_u32(smem + LAST, last as u32) };
    }
    sync::sync_threads();
    unsafe { copy::ld_shared_u32(smem + LAST) != 0 }
}

/// The last block of a dense launch: each (token, choice)'s expert from the routing block 0
/// wrote, its slot and whether it is kept ([`prepare`]'s ranking, done here, off block 0's
/// path), and its pair for [`reduce`]: its expert's item rows hold every token (row t is
/// token t).
///
/// # Safety
/// All threads of the block [`arrive`] chose.
unsafe fn dense_pairs(p: &MoeParams, smem: u32) {
    let tid = thread_idx();
    let entries = p.tokens * p.top_k;
    let mine = if tid < entries {
        // At L2 (block 0 wrote them; the arrival ordered its stores before this block's count).
        let word = unsafe { sync::ld_relaxed_gpu_u32((p.workspace + p.ws.topk_expert + (tid & !3) as u64) as *const u32) };
        (word >> (8 * (tid % 4))) & 0xff
    } else {
        NONE
    };
    let slot = unsafe { rank_choice(smem, entries, mine) };
    if tid < entries {
        let kept = unsafe { keep_choice(p, mine, slot) };
        unsafe { copy::st_shared_u32(smem + PAIR + 4 * tid, if kept { mine << 8 | tid / p.top_k } else { NONE }) };
    }
    sync::sync_threads();
}

/// The last block: out[t] = Σ_j w_tj · round(Σ_s partial(j, s) + b2), j in order over the
/// token's kept choices, the slices in order (the combine's sum over rounded expert outputs).
/// A thread takes 8 output columns of a token; its (choice, slice) partials load eight at a
/// time, the choices' weights and biases before them.
///
/// # Safety
/// All threads of the block [`arrive`] chose.
unsafe fn reduce<E: Element>(p: &MoeParams, smem: u32) {
    let (k, slices) = (p.top_k, p.inter / LEAN_SLICE);
    let (vecs, total) = (p.hidden / 8, p.top_k * slices);
    let partials = (p.workspace + p.ws.gemm1_partials) as *const u8;
    let weights = (p.workspace + p.ws.topk_weight) as *const f32;
    let row_bytes = p.hidden as u64 * 4;
    let pair_of = |t: u32, j: u32| unsafe { copy::ld_shared_u32(smem + PAIR + 4 * (t * k + j)) };
    let mut unit = thread_idx();
    while unit < p.tokens * vecs {
        let (t, v) = (unit / vecs, unit % vecs);
        let (mut weight, mut bias) = ([0.0f32; 8], [[0u32; 4]; 8]);
        unroll!(8, j, {
            let pair = if (j as u32) < k { pair_of(t, j as u32) } else { NONE };
            if pair != NONE {
                // At L2: in a dense launch another block wrote them.
                weight[j] = unsafe { copy::ld_cg_f32(weights.add((t * k + j as u32) as usize)) };
                if p.has_bias() {
                    let e = unsafe { copy::ld_shared_u32(smem + CHOICE + 4 * (t * k + j as u32)) };
                    let at = (e * p.hidden + 8 * v) * E::BYTES;
                    bias[j] = unsafe { copy::ld_nc_v4((p.b2 as *const u8).add(at as usize)) };
                }
            }
        });
        let (mut out, mut y) = ([0.0f32; 8], [0.0f32; 8]);
        let mut q0 = 0;
        while q0 < total {
            let mut raw = [[[0u32; 4]; 2]; 8];
            unroll!(8, u, {
                let q = q0 + u as u32;
                let pair = if q < total { pair_of(t, q / slices) } else { NONE };
                if pair != NONE {
                    let row = lean_partial_row(pair >> 8, q % slices, slices) + (pair & 0xff);
                    let at = unsafe { partials.add((row as u64 * row_bytes + v as u64 * 32) as usize) };
                    raw[u] = unsafe { [copy::ld_cg_v4(at), copy::ld_cg_v4(at.add(16))] };
                }
            });
            unroll!(8, u, {
                let q = q0 + u as u32;
                if q < total {
                    unroll!(4, i, {
                        y[i] += f32::from_bits(raw[u][0][i]);
                        y[4 + i] += f32::from_bits(raw[u][1][i]);
                    });
                    // The choice's last slice: its output as a slot row holds it, weighted.
                    if q % slices == slices - 1 {
                        let j = q / slices;
                        if pair_of(t, j) != NONE {
                            let (mut w, mut b) = (0.0f32, [0.0f32; 8]);
                            unroll!(8, jj, {
                                if jj as u32 == j {
                                    w = weight[jj];
                                    if p.has_bias() {
                                        E::unpack(bias[jj], &mut b);
                                    }
                                }
                            });
                            unroll!(8, i, { y[i] += b[i] });
                            let mut rounded = [0.0f32; 8];
                            E::unpack(E::pack(&y), &mut rounded);
                            unroll!(8, i, { out[i] += w * rounded[i] });
                        }
                        y = [0.0; 8];
                    }
                }
            });
            q0 += 8;
        }
        let dst = (p.out + (t * p.hidden + 8 * v) as u64 * E::BYTES as u64) as *mut u8;
        unsafe { copy::st_v4(dst, E::pack(&out)) };
        unit += 128;
    }
}

/// a·b + c, rounded once (rustc does not contract `a * b + c`).
#[inline(always)]
pub(crate) fn fma(a: f32, b: f32, c: f32) -> f32 {
    core::intrinsics::fmaf32(a, b, c)
}

/// `x` rounded to the layer's dtype.
#[inline(always)]
fn round<E: Element>(x: f32) -> f32 {
    let mut v = [0.0f32; 8];
    v[0] = x;
    let mut out = [0.0f32; 8];
    E::unpack(E::pack(&v), &mut out);
    out[0]
}

/// The lean forward with bf16 activations and weights.
///
/// # Safety
/// See [`forward`].
#[allow(improper_gpu_kernel_arg)]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn moe_lean_bf16(p: MoeParams) {
    unsafe { forward::<Bf16>(&p) }
}

/// The lean forward with f16 activations and weights.
///
/// # Safety
/// See [`forward`].
#[allow(improper_gpu_kernel_arg)]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn moe_lean_f16(p: MoeParams) {
    unsafe { forward::<F16>(&p) }
}
