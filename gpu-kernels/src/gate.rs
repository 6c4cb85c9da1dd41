//! The fused gate, in two phases separated by a grid barrier. Phase 1: logits = x·Wgᵀ on tensor
//! cores (f32 accumulate), split over (128-token chunk, K range) units so every block streams a
//! share even for one chunk (decode); each unit writes its partial logits. At decode the
//! 128-thread entries take warp dot products instead (see [`logits_any_t`]). Phase 2, per token:
//! the partials summed in a fixed order (plus the router bias, when the layer has one), the
//! layer's router (softmax top-k, DeepSeek-V3's grouped sigmoid, or Llama-4's sigmoid of the
//! top-k logits; ties to the lower expert), the routing weights, and per-chunk expert counts that
//! let dispatch assign slots in token order without atomics on slots.

use crate::fault;
use crate::gemm::activation::{exp, sigmoid};
use crate::gemm::element::{Bf16, Element, F16, F32, Mma};
use crate::gemm::epilogue;
use crate::gemm::mainloop::{Rows, mainloop, zero_acc};
use crate::layout::{
    BLOCK_THREADS, DROPPED, DType, ErrorCode, FaultKind, MAX_GATE_SPLITS, MoeParams, NONE, RouterKind, TILE_K_BYTES, TILE_M, TILE_N,
    gate_chunks, logits_stride, route_tokens,
};
use crate::ptx::{copy, math, sync, warp};
use crate::ranking::{TopTwo, outranks};
use crate::util::{block_idx, grid_dim, thread_idx};

/// Phase 1: the partial logits of this block's (chunk, K split) units. `SMALL_E_AS_M`: at most
/// 64 experts take the M side of the tile (see `logits_tile`). The warp-specialized entry takes
/// it (its spills went 160 -> 104 bytes); on the 128-thread entries it cost 4-5 us per forward
/// at T = 32 and 128, E = 64 (perf log v14), so they keep tokens on M.
///
/// # Safety
/// All threads call it with valid parameters.
#[inline(always)]
#[cfg(target_feature = "sm_90a")]
pub unsafe fn logits<E: Mma, const SMALL_E_AS_M: bool>(p: &MoeParams, smem: u32) {
    unsafe { logits_tiles::<E, SMALL_E_AS_M>(p, smem, gate_chunks(p.tokens) * p.gate_splits) }
}

/// [`logits`] over the first `units` of this forward's (chunk, K split) units.
#[inline(always)]
unsafe fn logits_tiles<E: Mma, const SMALL_E_AS_M: bool>(p: &MoeParams, smem: u32, units: u32) {
    let splits = p.gate_splits;
    let mut u = block_idx();
    while u < units {
        let (c, s) = (u / splits, u % splits);
        let t0 = c * TILE_M;
        let mut e0 = 0;
        while e0 < p.experts {
            let rows = (p.tokens - t0).min(TILE_M);
            // wgmma stays in the entry (see `os::processor::run`); the mma.sync tile is a
            // separate function so nothing of the caller stays live across it.
            if E::WGMMA {
                unsafe { logits_tile::<E, SMALL_E_AS_M>(p, smem, t0, rows, e0, s) };
            } else {
                unsafe { logits_tile_outlined::<E, SMALL_E_AS_M>(p, smem, t0, rows, e0, s) };
            }
            e0 += TILE_N;
        }
        u += grid_dim();
    }
}

/// Tokens up to which the 128-thread entries compute the partial logits as warp dot products
/// (the static plan's one routing step at a warp a token).
pub const DOT_GATE_TOKENS: u32 = 4;
const _: () = assert!(DOT_GATE_TOKENS == 4, "logits_dots unrolls its tokens by 4");

/// Phase 1 on the 128-thread entries: up to [`DOT_GATE_TOKENS`] tokens by [`logits_dots`], more
/// by the tensor-core tiles of [`logits`]. The choice follows T alone, so the static and the OS
/// plan of a forward sum the same partials (they agree bit for bit). Both run, one over no units:
/// a branch around them cost the NVSHMEM build's 16-bit forwards 48 bytes of per-task spills.
///
/// # Safety
/// As [`logits`].
#[inline(always)]
pub unsafe fn logits_any_t<E: Mma>(p: &MoeParams, smem: u32) {
    let dots = p.tokens <= DOT_GATE_TOKENS;
    unsafe {
        logits_tiles::<E, false>(p, smem, if dots { 0 } else { gate_chunks(p.tokens) * p.gate_splits });
        logits_dots::<E>(p, if dots { p.experts * p.gate_splits } else { 0 });
    }
}

/// The partial logits of at most [`DOT_GATE_TOKENS`] tokens as warp dot products: the warps of
/// all blocks take (expert, K split) units and write what the tiles would, in the same
/// `[split][token][expert]` layout. For 1-4 rows a tile ran its whole pipeline, a staging pass
/// and a store; a unit here is one round trip per 512 bytes of its split (a decode split is 4 K
/// tiles: 512 bytes up to H = 8192 in 16 bits). Each lane sums its 16-byte vectors in order,
/// then a fixed butterfly: deterministic. Out of line: nothing of the entry stays live across it.
///
/// # Safety
/// All threads of every block; `p.tokens` at most [`DOT_GATE_TOKENS`] unless `units` is 0, at
/// most `p.experts · p.gate_splits` (unit u: expert u / splits, split u % splits).
#[inline(never)]
unsafe fn logits_dots<E: Element>(p: &MoeParams, units: u32) {
    let (splits, tokens, x) = (p.gate_splits, p.tokens, p.x);
    let row_bytes = (p.hidden * E::BYTES) as u64;
    let k_tiles = p.hidden * E::BYTES / TILE_K_BYTES;
    let logits = (p.workspace + p.ws.logits) as *mut f32;
    let stride = logits_stride(p.experts) as u64;
    let lane = thread_idx() % 32;
    let warps = BLOCK_THREADS / 32;
    let mut u = block_idx() * warps + thread_idx() / 32;
    while u < units {
        let (e, s) = (u / splits, u % splits);
        // The split's K tiles, as `logits_tile` takes them, in 16-byte vectors.
        let (v0, v1) = (s * k_tiles / splits * (TILE_K_BYTES / 16), (s + 1) * k_tiles / splits * (TILE_K_BYTES / 16));
        let w = (p.gate_w + e as u64 * row_bytes) as *const u8;
        let mut acc = [0.0f32; DOT_GATE_TOKENS as usize];
        let mut v = v0 + lane;
        while v < v1 {
            let at = v as u64 * 16;
            // Every load of the step before any product: one round trip, not one per token.
            let w_raw = unsafe { copy::ld_nc_v4(w.add(at as usize)) };
            let mut x_raw = [[0u32; 4]; DOT_GATE_TOKENS as usize];
            unroll!(4, t, {
                if (t as u32) < tokens {
                    x_raw[t] = unsafe { copy::ld_nc_v4((x + t as u64 * row_bytes + at) as *const u8) };
                }
            });
            let (mut ws, mut xs) = ([0.0f32; 8], [0.0f32; 8]);
            E::unpack(w_raw, &mut ws);
            unroll!(4, t, {
                if (t as u32) < tokens {
                    E::unpack(x_raw[t], &mut xs);
                    unroll!(8, j, {
                        if j < E::PER_VEC {
                            acc[t] += xs[j] * ws[j];
                        }
                    });
                }
            });
            v += 32;
        }
        unroll!(4, t, {
            if (t as u32) < tokens {
                let sum = warp::sum_f32(acc[t], 32);
                if lane == 0 {
                    unsafe { *logits.add(((s as u64 * tokens as u64 + t as u64) * stride + e as u64) as usize) = sum };
                }
            }
        });
        u += grid_dim() * warps;
    }
}

/// Phase 2 (after a grid barrier): routing of this block's units of tokens, one token per group
/// of [`route_lanes`] lanes, so a warp routes several tokens in one step. Per-chunk expert counts
/// are integer atomics: order-free, so deterministic.
///
/// # Safety
/// All threads call it with valid parameters, after the chunk counts were zeroed.
pub unsafe fn route(p: &MoeParams) {
    unsafe { route_inline::<false>(p, 0, thread_idx() / 32, BLOCK_THREADS / 32) }
}

/// [`route`] by `warps` warps of the block, this one `warp` of them (a unit of tokens per step:
/// one per lane group), inlined: the warp-specialized entries' consumers route (a call there
/// fails ptxas's register allocation, C7600). With `DEFER` a non-finite input is left in the
/// block's mailbox at `smem` (`fault::defer`, raised when the block exits) rather than raised
/// by a call.
///
/// # Safety
/// As [`route`], on `warps` whole warps of every block.
#[inline(always)]
pub unsafe fn route_inline<const DEFER: bool>(p: &MoeParams, smem: u32, warp: u32, warps: u32) {
    let lanes = Lanes::of(p.route_lanes, thread_idx() % 32);
    let per_warp = 32 / lanes.width;
    let per_unit = warps * per_warp;
    let mut u = block_idx();
    // Warp-uniform: every lane takes part in every step's shuffles, also past the last token.
    while u < p.tokens.div_ceil(per_unit) {
        let t = u * per_unit + warp * per_warp + lanes.first / lanes.width;
        unsafe { top_k::<true, DEFER, false, 8>(p, smem, t, &lanes) };
        u += grid_dim();
    }
}

/// Every token's top-k in this block, without the per-chunk counts: the static decode plan's
/// routing, which every block runs alike (same lanes, same order: the same bits), so no grid
/// barrier has to publish it. The routing tables get the same values from every block.
///
/// A lane keeps as many logit slots as E needs at the forward's width: decode's whole-warp
/// groups hold E <= 32 in one and E <= 64 in two, where the predicated slots of the 8-slot code
/// still issue (more than twice the one-slot code's instructions). The same bits at any count:
/// an absent slot only ever added exp(-inf) = +0 to a sum and lost every comparison.
///
/// `LEAN`: a launch of the lean layout (`fault::fail`).
///
/// # Safety
/// All threads of the block, after the logits' grid barrier; `p.tokens` at most
/// [`STATIC_ROUTE_STEPS`](crate::layout::STATIC_ROUTE_STEPS) `· layout::route_tokens(p.route_lanes)`.
pub unsafe fn route_all<const LEAN: bool>(p: &MoeParams) {
    match p.experts.div_ceil(p.route_lanes) {
        1 => unsafe { route_all_slots::<1, LEAN>(p) },
        2 => unsafe { route_all_slots::<2, LEAN>(p) },
        _ => unsafe { route_all_slots::<8, LEAN>(p) },
    }
}

/// [`route_all`] with `N` slots a lane (`N · p.route_lanes >= p.experts`); not inlined, so the
/// entry holds none of the three.
#[inline(never)]
unsafe fn route_all_slots<const N: usize, const LEAN: bool>(p: &MoeParams) {
    let tid = thread_idx();
    let lanes = Lanes::of(p.route_lanes, tid % 32);
    let per_warp = 32 / lanes.width;
    let t = (tid / 32) * per_warp + lanes.first / lanes.width;
    let mut t0 = 0;
    while t0 < p.tokens {
        unsafe { top_k::<false, false, LEAN, N>(p, 0, t0 + t, &lanes) };
        t0 += route_tokens(p.route_lanes);
    }
}

#[inline(never)]
unsafe fn logits_tile_outlined<E: Mma, const SMALL_E_AS_M: bool>(p: &MoeParams, smem: u32, t0: u32, rows: u32, e0: u32, split: u32) {
    unsafe { logits_tile::<E, SMALL_E_AS_M>(p, smem, t0, rows, e0, split) }
}

/// Partial logits of tokens `[t0, t0 + rows)` for experts `[e0, e0 + 128)` over K split `split`.
#[inline(always)]
unsafe fn logits_tile<E: Mma, const SMALL_E_AS_M: bool>(p: &MoeParams, smem: u32, t0: u32, rows: u32, e0: u32, split: u32) {
    let row_bytes = (p.hidden * E::BYTES) as u64;
    let k_tiles = p.hidden * E::BYTES / TILE_K_BYTES;
    let (k0, k1) = (split * k_tiles / p.gate_splits, (split + 1) * k_tiles / p.gate_splits);
    let offset = (k0 * TILE_K_BYTES) as u64;
    let logits = (p.workspace + p.ws.logits) as *mut f32;
    let stride = logits_stride(p.experts);
    let x = Rows::new((p.x + t0 as u64 * row_bytes + offset) as *const u8, row_bytes, rows);
    let wg = Rows::new((p.gate_w + e0 as u64 * row_bytes + offset) as *const u8, row_bytes, (p.experts - e0).min(TILE_N));
    let mut acc = zero_acc();
    let first = split as u64 * p.tokens as u64 + t0 as u64;
    let dest = |r: u32| unsafe { logits.add(((first + r as u64) * stride as u64 + e0 as u64) as usize) } as *mut u8;
    // At most 64 experts may take the M side, where the tile's second 64-row half is skipped
    // when empty (as the N side, E = 32 multiplied 96 zero columns).
    let experts_as_m = SMALL_E_AS_M && wg.valid <= 64;
    let (a, b) = if experts_as_m { (&wg, &x) } else { (&x, &wg) };
    unsafe {
        mainloop::<E, false>(smem, a, b, (k1 - k0) * TILE_K_BYTES, &mut acc);
        epilogue::stage::<E>(smem, &acc);
        if experts_as_m {
            emit_transposed(smem, rows, wg.valid, dest);
        } else {
            epilogue::emit::<F32>(smem, false, rows, wg.valid, |_, _, _| {}, dest);
        }
    }
}

/// Writes a staged tile of experts x tokens (row e, column t) as token rows: row t at `dest(t)`
/// gets columns t of rows `[0, experts)`, 16 bytes at a time (the last vector also carries up to
/// three padding columns, as `epilogue::emit` would). Ends with a block barrier.
///
/// # Safety
/// All threads, after `epilogue::stage`; `experts` <= 124 and `tokens` <= 128.
#[inline(always)]
unsafe fn emit_transposed(smem: u32, tokens: u32, experts: u32, dest: impl Fn(u32) -> *mut u8) {
    sync::sync_threads();
    let vecs = experts.div_ceil(4);
    let mut i = thread_idx();
    // Consecutive threads take consecutive tokens: one staged row, consecutive banks.
    while i < tokens * vecs {
        let (v, t) = (i / tokens, i % tokens);
        let mut out = [0u32; 4];
        unroll!(4, j, {
            out[j] = unsafe { epilogue::staged_bits(smem, 4 * v + j as u32, t) };
        });
        unsafe { copy::st_v4(dest(t).add(16 * v as usize), out) };
        i += TILE_M;
    }
    sync::sync_threads();
}

/// The router bias of expert `e`, stored in the layer's dtype (a uniform branch: routing is not
/// generic over the element type, so every entry shares one routing function as before).
#[inline(always)]
unsafe fn router_bias_at(p: &MoeParams, gate_b: *const u8, e: u32) -> f32 {
    unsafe {
        match DType::from_u32(p.dtype) {
            Some(DType::F32) => F32::load(gate_b, e),
            Some(DType::F16) => F16::load(gate_b, e),
            _ => Bf16::load(gate_b, e),
        }
    }
}

/// Gate splits whose partial logits a routing lane loads at once, for each of its slots (the
/// `unroll!(4, ..)` below).
const SPLIT_BATCH: usize = 4;
const _: () = assert!(SPLIT_BATCH == 4 && MAX_GATE_SPLITS == 32);

/// Routing of token `t` (none when `t` is past the last token) by one lane group: lane l holds
/// experts l, l + width, ... in its `N` slots (at most 8; `N · width >= E`), each the sum of the
/// K splits' partial logits in split order (deterministic), then plus the router bias in f32
/// when the layer has one; the layer's router then picks the k experts and their weights.
/// `LEAN`: a launch of the lean layout (`fault::fail`).
#[inline(always)]
unsafe fn top_k<const GRID: bool, const DEFER: bool, const LEAN: bool, const N: usize>(p: &MoeParams, smem: u32, t: u32, lanes: &Lanes) {
    let (experts, k) = (p.experts, p.top_k);
    let valid = t < p.tokens;
    let logits = (p.workspace + p.ws.logits) as *const f32;
    let row = unsafe { logits.add(t as usize * logits_stride(experts) as usize) };
    let split_stride = p.tokens as usize * logits_stride(experts) as usize;
    let (router_bias, gate_b) = (p.router_bias(), p.gate_b as *const u8);
    // Written by other blocks before the grid barrier: read at L2. The lane's slots and
    // SPLIT_BATCH splits load together (one round trip per batch, not per slot: a lane holding
    // eight slots waited eight), then each slot sums its partials in split order
    // (deterministic). Past the last token a group computes on zeros and writes nothing.
    let splits = p.gate_splits as usize;
    let mut v = [0.0f32; N];
    // At most one expert per lane (decode's whole-warp groups, E <= 32; always so with one
    // slot): all its splits load at once, one round trip instead of one per SPLIT_BATCH (the
    // same sums, in the same order).
    let mut s0 = if N == 1 || experts <= lanes.width { splits } else { 0 };
    if s0 == splits {
        let mut part = [[0.0f32; 8]; MAX_GATE_SPLITS as usize / 8];
        let at = unsafe { row.add(lanes.sub as usize) };
        unroll!(4, a, {
            unroll!(8, b, {
                let u = 8 * a + b;
                if valid && lanes.sub < experts && u < splits {
                    part[a][b] = unsafe { copy::ld_cg_f32(at.add(u * split_stride)) };
                }
            });
        });
        unroll!(4, a, {
            unroll!(8, b, {
                v[0] += part[a][b];
            });
        });
    }
    while s0 < splits {
        let mut part = [[0.0f32; SPLIT_BATCH]; N];
        unroll!(8, i < N, {
            let at = unsafe { row.add(lanes.item(i) as usize) };
            unroll!(4, u, {
                if valid && lanes.item(i) < experts && s0 + u < splits {
                    part[i][u] = unsafe { copy::ld_cg_f32(at.add((s0 + u) * split_stride)) };
                }
            });
        });
        unroll!(8, i < N, {
            unroll!(4, u, {
                v[i] += part[i][u];
            });
        });
        s0 += SPLIT_BATCH;
    }
    unroll!(8, i < N, {
        let e = lanes.item(i);
        v[i] = if e >= experts {
            f32::NEG_INFINITY
        } else if router_bias && valid {
            v[i] + unsafe { router_bias_at(p, gate_b, e) }
        } else {
            v[i]
        };
    });
    // NaN or infinity anywhere in the token's input makes its logits non-finite (each sums x·w
    // over the whole row): a typed error, never a silent route. The group's lowest lane holding
    // one reports its first; the group still takes part in the warp's shuffles.
    let mut bad = None;
    unroll!(8, i < N, {
        if bad.is_none() && lanes.item(i) < experts && !v[i].is_finite() {
            bad = Some(v[i]);
        }
    });
    let bad_lanes = lanes.ballot(bad.is_some());
    if let Some(b) = bad
        && lanes.sub == bad_lanes.trailing_zeros()
    {
        if DEFER {
            unsafe { fault::defer(smem, ErrorCode::Fault as u32, FaultKind::NonFiniteInput as u32, t, b.to_bits() as u64, 0) };
        } else {
            unsafe { fault::fault_at_in::<LEAN>(p, FaultKind::NonFiniteInput as u32, (NONE, NONE, t), b.to_bits() as u64, 0) };
        }
    }
    if bad_lanes != 0 {
        v = [0.0; N];
    }
    let (mine_e, weight) = match RouterKind::from_u32(p.router) {
        Some(RouterKind::GroupedSigmoid) => unsafe { grouped_sigmoid(p, &v, lanes) },
        Some(RouterKind::SigmoidScaledInput) => sigmoid_of_top_k(p, &v, lanes),
        _ => softmax_top_k(p, &v, lanes),
    };
    if valid && bad_lanes == 0 && lanes.sub < k {
        let i = (t * k + lanes.sub) as usize;
        unsafe {
            *((p.workspace + p.ws.topk_expert) as *mut u8).add(i) = mine_e as u8;
            *((p.workspace + p.ws.topk_weight) as *mut f32).add(i) = weight;
            // Routing over the grid: dispatch writes the slots of kept rows. The static plan
            // writes every slot itself (a DROPPED from a slower block must not land after it).
            if GRID {
                *((p.workspace + p.ws.route_slot) as *mut u32).add(i) = DROPPED;
                let counts = (p.workspace + p.ws.chunk_counts) as *mut u32;
                sync::red_add_relaxed_gpu_u32(counts.add(((t / TILE_M) * experts + mine_e) as usize), 1);
            }
        }
    }
}

/// The lanes of a warp that route one token: `width` consecutive lanes (a power of two) from lane
/// `first`; lane `sub` of them holds items sub, sub + width, ... Butterflies over xor distances
/// below `width` stay inside the group.
#[derive(Clone, Copy)]
struct Lanes {
    width: u32,
    first: u32,
    sub: u32,
}

impl Lanes {
    #[inline(always)]
    fn of(width: u32, lane: u32) -> Lanes {
        Lanes { width, first: lane & !(width - 1), sub: lane & (width - 1) }
    }

    /// The item this lane holds in slot `i`.
    #[inline(always)]
    fn item(&self, i: usize) -> u32 {
        i as u32 * self.width + self.sub
    }

    /// Bit j set where lane j of the group passed `true` (every lane of the warp calls it).
    #[inline(always)]
    fn ballot(&self, pred: bool) -> u32 {
        let mask = if self.width == 32 { u32::MAX } else { (1 << self.width) - 1 };
        (warp::ballot(pred) >> self.first) & mask
    }

    /// `v` of the group's lane `sub`.
    #[inline(always)]
    fn read(&self, v: f32, sub: u32) -> f32 {
        warp::shfl_idx_f32(v, self.first + sub)
    }
}

/// The group's best of the items its lanes hold in `keys` (see [`Lanes`]), skipping items at or
/// past `count` and those whose bit i of the lane's `taken` is set: (key, item), the same on
/// every lane of the group, ranked by [`outranks`] (ties to the lower item, so the choice does not
/// depend on the group's width). The item is always below `count` (it indexes memory), even for
/// keys no comparison can order.
#[inline(always)]
fn group_best<const N: usize>(keys: &[f32; N], taken: u32, count: u32, lanes: &Lanes) -> (f32, u32) {
    // Lane-local first, in ascending items, so ties keep the lower one.
    let (mut bv, mut be) = (f32::NEG_INFINITY, u32::MAX);
    unroll!(8, i < N, {
        let e = lanes.item(i);
        if e < count && taken & (1 << i) == 0 && (keys[i] > bv || be == u32::MAX) {
            bv = keys[i];
            be = e;
        }
    });
    let mut d = lanes.width / 2;
    while d > 0 {
        let ov = warp::shfl_xor_f32(bv, d);
        let oe = warp::shfl_xor_u32(be, d);
        if outranks(ov, oe, bv, be) {
            bv = ov;
            be = oe;
        }
        d >>= 1;
    }
    (bv, if be < count { be } else { 0 })
}

/// Marks `item` (from [`group_best`]) as taken on the lane that holds it.
#[inline(always)]
fn take(taken: &mut u32, item: u32, lanes: &Lanes) {
    if item % lanes.width == lanes.sub {
        *taken |= 1 << (item / lanes.width);
    }
}

/// `keys[slot]` for a warp-uniform `slot` without indexing the register array at run time (that
/// would put it in local memory).
#[inline(always)]
fn at_slot<const N: usize>(keys: &[f32; N], slot: u32) -> f32 {
    let mut v = 0.0;
    unroll!(8, i < N, {
        if i as u32 == slot {
            v = keys[i];
        }
    });
    v
}

/// [`RouterKind::Softmax`]: softmax of the logits, top-k by logit, weights p_j (or p_j / Σ_k p).
/// Lane j < k of the group returns its j-th choice.
#[inline(always)]
fn softmax_top_k<const N: usize>(p: &MoeParams, v: &[f32; N], lanes: &Lanes) -> (u32, f32) {
    let mut m = f32::NEG_INFINITY;
    unroll!(8, i < N, {
        m = if v[i] > m { v[i] } else { m };
    });
    let m = warp::max_f32(m, lanes.width);
    let mut s = 0.0;
    unroll!(8, i < N, {
        s += exp(v[i] - m);
    });
    let inv_sum = math::rcp(warp::sum_f32(s, lanes.width));
    let mut picked = 0u32;
    let (mut mine_e, mut mine_p, mut picked_sum) = (0u32, 0.0f32, 0.0f32);
    for j in 0..p.top_k {
        let (bv, be) = group_best(v, picked, p.experts, lanes);
        take(&mut picked, be, lanes);
        let pj = exp(bv - m) * inv_sum;
        picked_sum += pj;
        if lanes.sub == j {
            mine_e = be;
            mine_p = pj;
        }
    }
    (mine_e, if p.renormalize() { mine_p / picked_sum } else { mine_p })
}

/// [`RouterKind::SigmoidScaledInput`] (Llama-4): top-k by logit; the weight sigmoid(l_j) scales
/// the expert's input (GEMM0), and combine adds the output with weight 1.
#[inline(always)]
fn sigmoid_of_top_k<const N: usize>(p: &MoeParams, v: &[f32; N], lanes: &Lanes) -> (u32, f32) {
    let mut picked = 0u32;
    let (mut mine_e, mut mine_l) = (0u32, 0.0f32);
    for j in 0..p.top_k {
        let (bv, be) = group_best(v, picked, p.experts, lanes);
        take(&mut picked, be, lanes);
        if lanes.sub == j {
            mine_e = be;
            mine_l = bv;
        }
    }
    (mine_e, sigmoid(mine_l))
}

/// [`RouterKind::GroupedSigmoid`] (DeepSeek-V3 `noaux_tc`): s = sigmoid(l), choice keys
/// c = s + score bias; the `topk_groups` best of `groups` groups of consecutive experts (each
/// scored by its two largest c, ties to the lower group) keep their experts, the others' keys
/// become -inf; the k largest c win (ties to the lower expert). Weights are the unbiased s_j,
/// divided by Σ_k s + 1e-20 when renormalising, times the routed scaling factor. Every
/// reduction is a butterfly over fixed lanes: deterministic.
///
/// # Safety
/// `p.score_bias` holds `p.experts` f32 values; `p.groups` divides `p.experts` (validated on the
/// host, as is topk_groups ≤ groups).
#[inline(always)]
unsafe fn grouped_sigmoid<const N: usize>(p: &MoeParams, v: &[f32; N], lanes: &Lanes) -> (u32, f32) {
    let experts = p.experts;
    let bias = p.score_bias as *const u8;
    let (mut s, mut c) = ([0.0f32; N], [f32::NEG_INFINITY; N]);
    unroll!(8, i < N, {
        let e = lanes.item(i);
        if e < experts {
            s[i] = sigmoid(v[i]);
            c[i] = s[i] + unsafe { F32::load(bias, e) };
        }
    });
    // Keeping every group masks nothing (Kimi-K2 and GLM-4.5 run one group).
    if p.topk_groups < p.groups {
        let per = experts / p.groups;
        // The group's lane l keeps the score of group width·m + l in `scores[m]` (at most
        // N·width / 2 groups: each holds at least 2 of at most N·width experts).
        let mut scores = [f32::NEG_INFINITY; N];
        for g in 0..p.groups {
            let (lo, hi) = (g * per, g * per + per);
            let mut two = TopTwo::EMPTY;
            unroll!(8, i < N, {
                let e = lanes.item(i);
                if e >= lo && e < hi {
                    two = two.insert(c[i]);
                }
            });
            let mut d = lanes.width / 2;
            while d > 0 {
                two = two.merge(TopTwo { first: warp::shfl_xor_f32(two.first, d), second: warp::shfl_xor_f32(two.second, d) });
                d >>= 1;
            }
            unroll!(8, m < N, {
                if g == lanes.item(m) {
                    scores[m] = two.sum();
                }
            });
        }
        let (mut kept_groups, mut kept) = (0u32, 0u32);
        for _ in 0..p.topk_groups {
            let (_, g) = group_best(&scores, kept_groups, p.groups, lanes);
            take(&mut kept_groups, g, lanes);
            unroll!(8, i < N, {
                let e = lanes.item(i);
                if e >= g * per && e < g * per + per {
                    kept |= 1 << i;
                }
            });
        }
        unroll!(8, i < N, {
            if kept & (1 << i) == 0 {
                c[i] = f32::NEG_INFINITY;
            }
        });
    }
    let mut picked = 0u32;
    let (mut mine_e, mut mine_s, mut picked_sum) = (0u32, 0.0f32, 0.0f32);
    for j in 0..p.top_k {
        let (_, be) = group_best(&c, picked, experts, lanes);
        take(&mut picked, be, lanes);
        // The winner's unbiased score, from the lane that holds it.
        let sj = lanes.read(at_slot(&s, be / lanes.width), be % lanes.width);
        picked_sum += sj;
        if lanes.sub == j {
            mine_e = be;
            mine_s = sj;
        }
    }
    let w = if p.renormalize() { mine_s / (picked_sum + 1e-20) } else { mine_s };
    (mine_e, w * p.routed_scaling)
}
