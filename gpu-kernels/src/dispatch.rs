//! Dispatch: the routed rows of every expert go straight into the owner GPU's heap region for
//! (this GPU, expert), in token order, with 16-byte stores, and each row tile is announced by a
//! flag `flag_word(epoch, rows routed)` released at system scope as soon as it is complete.
//!
//! The first `dispatch_blocks` processors dispatch; `dispatch_parts` of them share an expert: part
//! q owns row tiles q, q + parts, ... Each part walks the gate's per-chunk counts to find the
//! chunks holding its slots, so slot = rank in token order with no atomics, and every tile has
//! exactly one writer of its flag. An expert that receives no row still gets its tile-0 flag
//! (count 0), which is how the owner learns it has nothing to wait for. Rows routed to this GPU's
//! own experts are not copied unless `MoeParams::copy_local` asks (wide GEMM0 outputs on the
//! warp-specialized engine, whose GEMM0 then reads each row tile by TMA boxes: `ffn::a_box`):
//! only their slots (token ids) are written, and GEMM0 gathers the rows from the input.
//!
//! Llama-4's router scales the expert's input by the routing weight: there every row is copied
//! (this GPU's own too: `MoeParams::copy_local`) scaled in f32 and rounded to the dtype, so
//! GEMM0 reads s·x like any row. GEMM0's epilogue could scale its f32 accumulator instead
//! (GEMM0 is linear, and that skips one rounding of s·x), but the scale then has to reach the
//! owner's task and its epilogue: measured with ptxas, that code in the GEMM task loop pushed
//! GEMM0 out of line or added 50 to 330 spill bytes to the mma.sync task loops (sm_90a and
//! sm_80), for every router. Here it costs the other routers one uniform branch per dispatched
//! tile, and Llama-4's layers a copy of their own rows (T·H elements read and written, beside
//! 6·T·H·I flops of gated experts).

use crate::block;
use crate::gemm::element::Element;
use crate::layout::{MoeParams, TILE_M, dispatch_expert, flag_word, gate_chunks, meta_j, meta_token, meta_word, row_tiles, test_hook};
use crate::ptx::{copy, sync, warp};
use crate::smem::{SCAN_A, SCAN_B};
use crate::util::thread_idx;

/// Shared lists in the idle pipeline memory.
#[repr(C)]
struct Lists {
    /// Chunks to visit in a batch of 128: (chunk, first slot).
    chunks: [[u32; 2]; TILE_M as usize],
    /// The rows of the current tile: meta word, by slot.
    rows: [u32; TILE_M as usize],
}

const CHUNK_LIST: u32 = core::mem::offset_of!(Lists, chunks) as u32;
const ROW_LIST: u32 = core::mem::offset_of!(Lists, rows) as u32;
const _: () = assert!(core::mem::size_of::<Lists>() as u32 <= crate::layout::PIPELINE_BYTES);

/// Dispatches the units (expert, part) of processor `proc_id`, if it is a dispatch block.
/// `PUTS`: the entry may have peers reached by NVSHMEM puts (the 128-thread engines; the host
/// never runs a warp-specialized one with put peers). With the piecewise put path compiled into
/// the warp-specialized entries, ptxas spilled a word of their predicates across the whole
/// entry (perf log v32).
///
/// # Safety
/// All threads of the block call it after the gate's grid barriers.
pub unsafe fn run<E: Element, const PUTS: bool>(p: &MoeParams, smem: u32, proc_id: u32) {
    let parts = p.dispatch_parts;
    let mut u = proc_id;
    while proc_id < p.dispatch_blocks && u < p.experts * parts {
        let expert = dispatch_expert(u, parts, p.rank, p.local_experts, p.experts);
        unsafe { unit::<E, PUTS>(p, smem, expert, u % parts, parts) };
        u += p.dispatch_blocks;
    }
}

/// The destination of one (expert, source) stream.
struct Stream {
    expert: u32,
    kept: u32,
    /// Rows travel only to a peer; for this GPU's own experts GEMM0 reads them in place.
    copy_rows: bool,
    /// The expert is this GPU's: its flags are read here only.
    local: bool,
    /// The owner, and whether it is reached by NVSHMEM puts (`rows`, `meta` and `flags` are then
    /// this GPU's outbox for it: `crate::nvshmem`).
    #[cfg(feature = "nvshmem")]
    owner: u32,
    #[cfg(feature = "nvshmem")]
    put: bool,
    rows: *mut u8,
    meta: *mut u32,
    flags: *mut u64,
}

#[inline(never)]
unsafe fn unit<E: Element, const PUTS: bool>(p: &MoeParams, smem: u32, expert: u32, q: u32, parts: u32) {
    let tid = thread_idx();
    let chunks = gate_chunks(p.tokens);
    let counts = (p.workspace + p.ws.chunk_counts) as *const u32;
    let count_of = |c: u32| unsafe { *counts.add((c * p.experts + expert) as usize) };
    let mut partial = 0;
    let mut c = tid;
    while c < chunks {
        partial += count_of(c);
        c += TILE_M;
    }
    let routed = unsafe { block::sum_u32(partial, smem + SCAN_A) };
    let kept = routed.min(p.capacity);
    let tiles = row_tiles(kept);

    let owner = expert / p.local_experts;
    let pair = p.rank * p.local_experts + expert % p.local_experts;
    let heap = p.heaps[owner as usize];
    let slot0 = pair as u64 * p.slot_stride as u64;
    let row_bytes = (p.hidden * E::BYTES) as u64;
    let s = Stream {
        expert,
        kept,
        copy_rows: owner != p.rank || p.copy_local(),
        local: owner == p.rank,
        #[cfg(feature = "nvshmem")]
        owner,
        #[cfg(feature = "nvshmem")]
        put: p.puts_to(owner) && owner != p.rank,
        rows: (heap + p.heap.dispatch_rows + slot0 * row_bytes) as *mut u8,
        meta: (heap + p.heap.dispatch_meta + slot0 * 4) as *mut u32,
        flags: (heap + p.heap.dispatch_flags + pair as u64 * p.tile_stride as u64 * 8) as *mut u64,
    };
    if tiles == 0 {
        if q == 0 && tid == 0 {
            unsafe { signal(p, &s, 0) };
        }
        return;
    }
    let mut tile = q;
    while tile < tiles {
        let lo = tile * TILE_M;
        let hi = (lo + TILE_M).min(kept);
        unsafe { collect(p, smem, &s, counts.add(expert as usize), chunks, lo, hi) };
        #[cfg(feature = "nvshmem")]
        if PUTS && s.put && !p.scales_input() {
            unsafe { copy_put_tile::<E>(p, smem, &s, lo, hi) };
            if tid == 0 {
                unsafe { signal(p, &s, tile) };
            }
            tile += parts;
            continue;
        }
        unsafe { copy_rows::<E>(p, smem, &s, hi - lo, lo) };
        // Rows to a peer reached by puts that `copy_put_tile` does not take (scaled rows) were
        // copied into the outbox above: each warp puts a quarter of them (warp 0 the meta words
        // too) and completes them before thread 0 signals.
        #[cfg(feature = "nvshmem")]
        if s.put {
            let (w, rows) = (tid / 32, hi - lo);
            let (r0, r1) = (lo + w * rows / 4, lo + (w + 1) * rows / 4);
            unsafe {
                if r1 > r0 {
                    let at = s.rows.add((r0 as u64 * row_bytes) as usize) as u64;
                    crate::nvshmem::put_warp(p, owner, at, (r1 - r0) as u64 * row_bytes);
                }
                if w == 0 {
                    crate::nvshmem::put_warp(p, owner, s.meta.add(lo as usize) as u64, rows as u64 * 4);
                }
            }
            sync::sync_threads();
        }
        if tid == 0 {
            unsafe { signal(p, &s, tile) };
        }
        tile += parts;
    }
}

/// Row tile `[lo, hi)` of a stream to a peer reached by NVSHMEM puts (`s.rows` and `s.meta` are
/// this GPU's outbox for it), after [`collect`]: the slots as [`copy_rows`] writes them, then
/// each warp copies a quarter of the rows into the outbox and puts them as it goes
/// (`nvshmem::copy_put_rows`; warp 0 the meta words too) and completes them. Ends with a block
/// barrier, after which the tile can be announced. Copied, then put by four warps, a tile reached
/// 53% of the stores' bandwidth on two H200s (perf log v16); piece by piece 83% (perf log v32).
/// Out of line, so the store path's registers stay as they were.
#[cfg(feature = "nvshmem")]
#[inline(never)]
unsafe fn copy_put_tile<E: Element>(p: &MoeParams, smem: u32, s: &Stream, lo: u32, hi: u32) {
    let (w, rows) = (thread_idx() / 32, hi - lo);
    let (r0, r1) = (w * rows / 4, (w + 1) * rows / 4);
    let row_bytes = (p.hidden * E::BYTES) as u64;
    unsafe {
        copy_rows::<E>(p, smem, &Stream { copy_rows: false, ..*s }, rows, lo);
        let tile_rows = s.rows.add((lo as u64 * row_bytes) as usize) as u64;
        crate::nvshmem::copy_put_rows(p, s.owner, smem + ROW_LIST, r0, r1, tile_rows, row_bytes as u32);
        if w == 0 {
            crate::nvshmem::put_warp(p, s.owner, s.meta.add(lo as usize) as u64, rows as u64 * 4);
        }
    }
    sync::sync_threads();
}

/// Announces row tile `tile` of a stream (one thread, after a block barrier covering its rows).
#[inline(always)]
unsafe fn signal(p: &MoeParams, s: &Stream, tile: u32) {
    let hooked = s.expert == p.test_hook_arg && tile == 0;
    if p.test_hook == test_hook::DROP_DISPATCH_FLAG && hooked {
        return;
    }
    let count = if p.test_hook == test_hook::CORRUPT_DISPATCH_COUNT && hooked { p.capacity + 1 } else { s.kept };
    let (flag, word) = (unsafe { s.flags.add(tile as usize) }, flag_word(p.epoch, count));
    #[cfg(feature = "nvshmem")]
    if s.put {
        unsafe { crate::nvshmem::signal_set(p, s.owner, flag, word) };
        return;
    }
    // A flag this GPU's subscribers read needs GPU scope only (a system-scope fence waits for
    // the stores to be acknowledged system-wide).
    if s.local {
        sync::fence_acq_rel_gpu();
        unsafe { sync::st_release_gpu_u64(flag, word) };
    } else {
        sync::fence_acq_rel_sys();
        unsafe { sync::st_release_sys_u64(flag, word) };
    }
}

/// Lists the rows of slots `[lo, hi)` of the stream in shared memory (`ROW_LIST[slot - lo]` =
/// meta word): walks the expert's column of chunk counts (`column[c · experts]`) to the chunks
/// holding those slots, then ranks each chunk's pairs routed to the expert in token order (one
/// block scan per 128 pairs).
#[inline(always)]
unsafe fn collect(p: &MoeParams, smem: u32, s: &Stream, column: *const u32, chunks: u32, lo: u32, hi: u32) {
    let tid = thread_idx();
    let k = p.top_k;
    let chosen = (p.workspace + p.ws.topk_expert) as *const u8;
    let mut base = 0; // slots before this batch of chunks
    let mut batch = 0;
    while batch < chunks && base < hi {
        let c = batch + tid;
        let cnt = if c < chunks { unsafe { *column.add((c * p.experts) as usize) } } else { 0 };
        let (excl, total) = unsafe { block::scan_u32(cnt, smem + SCAN_A) };
        let start = base + excl;
        let hit = cnt > 0 && start < hi && start + cnt > lo;
        let (pos, hits) = unsafe { block::scan_flag(hit, smem + SCAN_B) };
        if hit {
            unsafe {
                copy::st_shared_u32(smem + CHUNK_LIST + pos * 8, c);
                copy::st_shared_u32(smem + CHUNK_LIST + pos * 8 + 4, start);
            }
        }
        sync::sync_threads();
        // Warp w ranks hit chunks w, w + 4, ...: a chunk's pairs are ranked by ballots, eight
        // steps of 32 pairs loaded at once (a block-wide scan per 128 pairs cost two block
        // barriers and a load round trip each: 33 us of dispatch at T = 16384; perf log v13).
        let (w, lane) = (tid / 32, tid % 32);
        let mut h = w;
        while h < hits {
            let (c, start) =
                unsafe { (copy::ld_shared_u32(smem + CHUNK_LIST + h * 8), copy::ld_shared_u32(smem + CHUNK_LIST + h * 8 + 4)) };
            let t0 = c * TILE_M;
            let entries = (p.tokens - t0).min(TILE_M) * k;
            let first = t0 * k;
            let mut running = start;
            let mut g = 0;
            while g < entries && running < hi {
                let mut is = [false; 8];
                unroll!(8, j, {
                    let i = g + 32 * j as u32 + lane;
                    is[j] = i < entries && unsafe { *chosen.add((first + i) as usize) } as u32 == s.expert;
                });
                unroll!(8, j, {
                    let (below, matches) = warp::scan_flag(is[j], lane);
                    let slot = running + below;
                    if is[j] && slot >= lo && slot < hi {
                        let e = first + g + 32 * j as u32 + lane;
                        unsafe { copy::st_shared_u32(smem + ROW_LIST + (slot - lo) * 4, meta_word(e / k, e % k)) };
                    }
                    running += matches;
                });
                g += 256;
            }
            h += 4;
        }
        sync::sync_threads();
        base += total;
        batch += TILE_M;
    }
}

/// Writes the listed rows' slots (meta, route_slot) and, for a peer's expert, copies the rows:
/// warp w takes rows w, w + 4, ... two at a time (16 vectors of 16 bytes in flight per lane).
/// Ends with a block barrier, after which the tile can be announced.
#[inline(always)]
unsafe fn copy_rows<E: Element>(p: &MoeParams, smem: u32, s: &Stream, rows: u32, lo: u32) {
    let tid = thread_idx();
    let (w, lane) = (tid / 32, tid % 32);
    let k = p.top_k;
    let route_slot = (p.workspace + p.ws.route_slot) as *mut u32;
    let row_bytes = p.hidden * E::BYTES;
    let mut r = tid;
    while r < rows {
        let m = unsafe { copy::ld_shared_u32(smem + ROW_LIST + r * 4) };
        unsafe {
            *s.meta.add((lo + r) as usize) = m;
            *route_slot.add((meta_token(m) * k + meta_j(m)) as usize) = lo + r;
        }
        r += TILE_M;
    }
    if s.copy_rows && p.scales_input() {
        unsafe { copy_scaled_rows::<E>(p, smem, s, rows, lo) };
    } else if s.copy_rows {
        let mut r = 2 * w;
        while r < rows {
            let src =
                |i: u32| (p.x + meta_token(unsafe { copy::ld_shared_u32(smem + ROW_LIST + i * 4) }) as u64 * row_bytes as u64) as *const u8;
            let dst = |i: u32| unsafe { s.rows.add((lo + i) as usize * row_bytes as usize) };
            let second = r + 1 < rows;
            unsafe { copy_two_rows(src(r), dst(r), if second { src(r + 1) } else { src(r) }, dst(r + 1), second, row_bytes, lane) };
            r += 8;
        }
    }
    // GEMM0 may read copied rows by TMA (`ffn::a_box`): order this thread's stores before the
    // async proxy's reads (the reader fences too).
    #[cfg(target_feature = "sm_90a")]
    if s.copy_rows {
        crate::ptx::tma::fence_proxy_async_global();
    }
    sync::sync_threads();
}

/// Copies the listed rows, each scaled by its routing weight (widened to f32, multiplied,
/// narrowed back to the dtype, rounded to nearest): warp w takes rows w, w + 4, ..., 4 vectors of
/// 16 bytes in flight per lane. A function of its own, so the plain copy keeps its registers.
#[inline(never)]
unsafe fn copy_scaled_rows<E: Element>(p: &MoeParams, smem: u32, s: &Stream, rows: u32, lo: u32) {
    let tid = thread_idx();
    let (w, lane) = (tid / 32, tid % 32);
    let k = p.top_k;
    let weights = (p.workspace + p.ws.topk_weight) as *const u32;
    let row_bytes = p.hidden * E::BYTES;
    let vecs = row_bytes / 16;
    let mut r = w;
    while r < rows {
        let m = unsafe { copy::ld_shared_u32(smem + ROW_LIST + r * 4) };
        // Written by the gate before its grid barrier.
        let scale = f32::from_bits(unsafe { sync::ld_relaxed_gpu_u32(weights.add((meta_token(m) * k + meta_j(m)) as usize)) });
        let src = (p.x + meta_token(m) as u64 * row_bytes as u64) as *const u8;
        let dst = unsafe { s.rows.add((lo + r) as usize * row_bytes as usize) };
        let mut v = lane;
        while v < vecs {
            let mut buf = [[0u32; 4]; 4];
            unroll!(4, j, {
                let i = v + 32 * j as u32;
                if i < vecs {
                    buf[j] = unsafe { copy::ld_nc_v4(src.add(i as usize * 16)) };
                }
            });
            unroll!(4, j, {
                let i = v + 32 * j as u32;
                if i < vecs {
                    let mut vals = [0.0f32; 8];
                    E::unpack(buf[j], &mut vals);
                    unroll!(8, e, {
                        vals[e] *= scale;
                    });
                    unsafe { copy::st_v4(dst.add(i as usize * 16), E::pack(&vals)) };
                }
            });
            v += 128;
        }
        r += 4;
    }
}

/// One warp copies one or two rows, 8 vectors of 16 bytes per row in flight per lane.
#[inline(always)]
unsafe fn copy_two_rows(a: *const u8, a_dst: *mut u8, b: *const u8, b_dst: *mut u8, second: bool, bytes: u32, lane: u32) {
    let vecs = bytes / 16;
    let mut v = lane;
    while v < vecs {
        let mut buf = [[0u32; 4]; 16];
        unroll!(8, j, {
            let i = v + 32 * j as u32;
            if i < vecs {
                buf[j] = unsafe { copy::ld_nc_v4(a.add(i as usize * 16)) };
                if second {
                    buf[8 + j] = unsafe { copy::ld_nc_v4(b.add(i as usize * 16)) };
                }
            }
        });
        unroll!(8, j, {
            let i = v + 32 * j as u32;
            if i < vecs {
                unsafe { copy::st_v4(a_dst.add(i as usize * 16), buf[j]) };
                if second {
                    unsafe { copy::st_v4(b_dst.add(i as usize * 16), buf[8 + j]) };
                }
            }
        });
        v += 256;
    }
}
