//! Combine: out[t] = Σ_j weight[t][j] · slot[t][j] over the kept j, summed in increasing j in f32,
//! so the output is bitwise identical run to run (no float atomics). Dropped pairs add nothing; a
//! token with every pair dropped gets zeros. A router whose weight scaled the expert's input
//! (Llama-4) adds each slot with weight 1. A shared expert's output (slot `top_k`, written for
//! every token, dropped or not) is added last, with weight 1 or, with a shared gate (Qwen2-MoE),
//! sigmoid(x·g) (computed here by the token's warp in a fixed order, so it repeats bitwise).

use crate::gemm::activation::sigmoid;
use crate::gemm::element::Element;
use crate::layout::{COMBINE_TOKENS, DROPPED, MoeParams};
use crate::ptx::{copy, sync, warp};
use crate::util::thread_idx;

/// Combines tokens `[tile · COMBINE_TOKENS, ...)`: one warp per token, lanes over 16-byte vectors.
///
/// # Safety
/// All threads of a 128-thread processor block, once every slot of this GPU's tokens has landed.
pub unsafe fn run<E: Element>(p: &MoeParams, tile: u32) {
    unsafe { run_inline::<E>(p, tile, thread_idx() / 32, 4) }
}

/// [`run`] by `warps` warps, this one `w` of them (token w, w + warps, ...): the warp-specialized
/// entries' two consumer warpgroups share a task. Inlined: a call there fails ptxas's register
/// allocation.
///
/// # Safety
/// Every lane of warps `0..warps`, once every slot of this GPU's tokens has landed.
#[inline(always)]
pub unsafe fn run_inline<E: Element>(p: &MoeParams, tile: u32, w: u32, warps: u32) {
    let lane = thread_idx() % 32;
    let k = p.top_k;
    let row_bytes = (p.hidden * E::BYTES) as u64;
    let vecs = (row_bytes / 16) as u32;
    let slots = (p.heaps[p.rank as usize] + p.heap.combine_slots) as *const u8;
    let route = (p.workspace + p.ws.route_slot) as *const u32;
    let weights = (p.workspace + p.ws.topk_weight) as *const u32;
    let end = ((tile + 1) * COMBINE_TOKENS).min(p.tokens);
    let scaled_input = p.scales_input();
    let (shared, stride) = (p.has_shared(), p.combine_stride() as u64);
    let mut t = tile * COMBINE_TOKENS + w;
    while t < end {
        let (s, wt) = if lane < k {
            let i = (t * k + lane) as usize;
            let s = unsafe { sync::ld_relaxed_gpu_u32(route.add(i)) };
            (s, if scaled_input { 1.0 } else { f32::from_bits(unsafe { sync::ld_relaxed_gpu_u32(weights.add(i)) }) })
        } else {
            (DROPPED, 0.0)
        };
        let mut slot = [DROPPED; 8];
        let mut weight = [0.0f32; 8];
        unroll!(8, j, {
            slot[j] = warp::shfl_idx_u32(s, j as u32);
            weight[j] = warp::shfl_idx_f32(wt, j as u32);
        });
        let shared_weight = if shared && p.shared_gate != 0 { unsafe { shared_gate::<E>(p, t, lane, vecs) } } else { 1.0 };
        let row = t as u64 * stride * row_bytes;
        // Several vectors per lane per pass, all loads of a slot issued before any is used: the
        // combine is a stream (k slot rows in, one row out), and with one load in flight per
        // lane it ran at ~1.4 TB/s (perf log v10).
        let mut v0 = 0;
        while v0 < vecs {
            let mut acc = [[0.0f32; 8]; 8];
            unroll!(8, j, {
                if slot[j] != DROPPED {
                    unsafe { add_slot::<E>(&mut acc, slots, row + j as u64 * row_bytes, v0 + lane, vecs, weight[j]) };
                }
            });
            if shared {
                unsafe { add_slot::<E>(&mut acc, slots, row + k as u64 * row_bytes, v0 + lane, vecs, shared_weight) };
            }
            unroll!(8, u, {
                let v = v0 + lane + 32 * u as u32;
                if v < vecs {
                    unsafe { copy::st_v4((p.out + t as u64 * row_bytes + v as u64 * 16) as *mut u8, E::pack(&acc[u])) };
                }
            });
            v0 += 32 * 8;
        }
        t += warps;
    }
}

/// `acc[u] += weight · v` for the vectors `v0 + 32u` (u < 8, those below `vecs`) of the slot row
/// at byte `src` of `slots`: the eight loads are issued before any is used.
///
/// # Safety
/// The slot row holds `vecs` 16-byte vectors written by this launch's GEMM1 tasks.
#[inline(always)]
unsafe fn add_slot<E: Element>(acc: &mut [[f32; 8]; 8], slots: *const u8, src: u64, v0: u32, vecs: u32, weight: f32) {
    let mut raw = [[0u32; 4]; 8];
    unroll!(8, u, {
        let v = v0 + 32 * u as u32;
        if v < vecs {
            raw[u] = unsafe { copy::ld_cg_v4(slots.add((src + v as u64 * 16) as usize)) };
        }
    });
    unroll!(8, u, {
        let mut vals = [0.0f32; 8];
        E::unpack(raw[u], &mut vals);
        unroll!(8, e, {
            if e < E::PER_VEC {
                acc[u][e] += weight * vals[e];
            }
        });
    });
}

/// sigmoid(x_t · g) for token `t` (the shared expert's gate, Qwen2-MoE), by the whole warp: each
/// lane sums its vectors in order, then a butterfly sum (every lane gets the same bits).
///
/// Out of line: it runs once per token, and inlined it would add to the task loop's registers.
///
/// # Safety
/// All lanes of a warp, `p.shared_gate` a `[hidden]` vector of the layer's dtype.
#[inline(never)]
unsafe fn shared_gate<E: Element>(p: &MoeParams, t: u32, lane: u32, vecs: u32) -> f32 {
    let x = (p.x + t as u64 * vecs as u64 * 16) as *const u8;
    let g = p.shared_gate as *const u8;
    let mut sum = 0.0f32;
    let mut v = lane;
    while v < vecs {
        let (mut xs, mut gs) = ([0.0f32; 8], [0.0f32; 8]);
        unsafe {
            E::unpack(copy::ld_cg_v4(x.add(v as usize * 16)), &mut xs);
            E::unpack(copy::ld_cg_v4(g.add(v as usize * 16)), &mut gs);
        }
        unroll!(8, e, {
            if e < E::PER_VEC {
                sum += xs[e] * gs[e];
            }
        });
        v += 32;
    }
    sigmoid(warp::sum_f32(sum, 32))
}
