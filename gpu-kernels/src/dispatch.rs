//! Dispatch: the routed rows of every expert go straight into the owner GPU's heap region for
//! (this GPU, expert), in token order, with 16-byte stores, and each row tile is announced by a
//! flag `flag_word(epoch, rows routed)` released at system scope as soon as it is complete.
//!
//! The first `dispatch_blocks` processors dispatch; `dispatch_parts` of them share an expert: part
//! q owns row tiles q, q + parts, ... Each part walks the gate's per-chunk counts to find the
//! chunks holding its slots, so slot = rank in token order with no atomics, and every tile has
//! exactly one writer of its flag. An expert that receives no row still gets its tile-0 flag
//! (count 0), which is how the owner learns it has nothing to wait for. Rows routed to this GPU's
//! own experts are not copied: only their slots (token ids) are written, and GEMM0 reads the
//! rows in place from the input.

use crate::block;
use crate::gemm::element::Element;
use crate::layout::{MoeParams, TILE_M, dispatch_expert, flag_word, gate_chunks, meta_word, part_owns_any, row_tiles, test_hook};
use crate::ptx::{copy, sync};
use crate::smem::{SCAN_A, SCAN_B};
use crate::util::thread_idx;

/// Shared lists (in the idle pipeline): chunks to visit (chunk, first slot, count) and rows to copy
/// (meta word, slot).
const CHUNK_LIST: u32 = 0;
const ROW_LIST: u32 = 128 * 12;

/// Dispatches the units (expert, part) of processor `proc_id`, if it is a dispatch block.
///
/// # Safety
/// All threads of the block call it after the gate's grid barriers.
pub unsafe fn run<E: Element>(p: &MoeParams, smem: u32, proc_id: u32) {
    let parts = p.dispatch_parts;
    let mut u = proc_id;
    while proc_id < p.dispatch_blocks && u < p.experts * parts {
        let expert = dispatch_expert(u, parts, p.rank, p.local_experts, p.experts);
        unsafe { unit::<E>(p, smem, expert, u % parts, parts) };
        u += p.dispatch_blocks;
    }
}

/// The destination of one (expert, source) stream.
struct Stream {
    expert: u32,
    kept: u32,
    /// Rows travel only to a peer; for this GPU's own experts GEMM0 reads them in place.
    copy_rows: bool,
    rows: *mut u8,
    meta: *mut u32,
    flags: *mut u64,
}

#[inline(never)]
unsafe fn unit<E: Element>(p: &MoeParams, smem: u32, expert: u32, q: u32, parts: u32) {
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
    let slot0 = pair as u64 * p.capacity as u64;
    let row_bytes = (p.hidden * E::BYTES) as u64;
    let s = Stream {
        expert,
        kept,
        copy_rows: owner != p.rank,
        rows: (heap + p.heap.dispatch_rows + slot0 * row_bytes) as *mut u8,
        meta: (heap + p.heap.dispatch_meta + slot0 * 4) as *mut u32,
        flags: (heap + p.heap.dispatch_flags + pair as u64 * row_tiles(p.capacity) as u64 * 8) as *mut u64,
    };
    if tiles == 0 {
        if q == 0 && tid == 0 {
            unsafe { signal(p, &s, 0) };
        }
        return;
    }
    if q >= tiles {
        return;
    }

    let mut next = q; // my next tile to announce
    let mut base = 0; // slots before this batch of chunks
    let mut batch = 0;
    while batch < chunks && base < kept {
        let c = batch + tid;
        let cnt = if c < chunks { count_of(c) } else { 0 };
        let (excl, total) = unsafe { block::scan_u32(cnt, smem + SCAN_A) };
        let start = base + excl;
        let hit = cnt > 0 && start < kept && part_owns_any(start, (start + cnt).min(kept), q, parts);
        let (pos, hits) = unsafe { block::scan_flag(hit, smem + SCAN_B) };
        if hit {
            let at = smem + CHUNK_LIST + pos * 12;
            unsafe {
                copy::st_shared_u32(at, c);
                copy::st_shared_u32(at + 4, start);
                copy::st_shared_u32(at + 8, cnt);
            }
        }
        sync::sync_threads();
        for h in 0..hits {
            let at = smem + CHUNK_LIST + h * 12;
            let (c, start, cnt) = unsafe { (copy::ld_shared_u32(at), copy::ld_shared_u32(at + 4), copy::ld_shared_u32(at + 8)) };
            unsafe { copy_chunk::<E>(p, smem, &s, c, start, q, parts) };
            // Every slot below `done` is written (copy_chunk ends with a barrier).
            let done = (start + cnt).min(kept);
            while next < tiles && ((next + 1) * TILE_M).min(kept) <= done {
                if tid == 0 {
                    unsafe { signal(p, &s, next) };
                }
                next += parts;
            }
        }
        sync::sync_threads();
        base += total;
        batch += TILE_M;
    }
    while next < tiles {
        if tid == 0 {
            unsafe { signal(p, &s, next) };
        }
        next += parts;
    }
}

/// Announces row tile `tile` of a stream (one thread, after a block barrier covering its rows).
#[inline(always)]
unsafe fn signal(p: &MoeParams, s: &Stream, tile: u32) {
    if p.test_hook == test_hook::DROP_DISPATCH_FLAG && s.expert == p.test_hook_arg && tile == 0 {
        return;
    }
    sync::fence_acq_rel_sys();
    unsafe { sync::st_release_sys_u64(s.flags.add(tile as usize), flag_word(p.epoch, s.kept)) };
}

/// Copies this part's rows among the pairs of chunk `c` routed to the stream's expert; the first
/// such pair has slot `start`.
unsafe fn copy_chunk<E: Element>(p: &MoeParams, smem: u32, s: &Stream, c: u32, start: u32, q: u32, parts: u32) {
    let tid = thread_idx();
    let (w, lane) = (tid / 32, tid % 32);
    let k = p.top_k;
    let t0 = c * TILE_M;
    let entries = (p.tokens - t0).min(TILE_M) * k;
    let first = t0 * k;
    let chosen = (p.workspace + p.ws.topk_expert) as *const u8;
    let route_slot = (p.workspace + p.ws.route_slot) as *mut u32;
    let row_bytes = p.hidden * E::BYTES;
    let mut running = start;
    let mut g = 0;
    while g < entries {
        let i = g + tid;
        let is = i < entries && unsafe { *chosen.add((first + i) as usize) } as u32 == s.expert;
        let (rank, matches) = unsafe { block::scan_flag(is, smem + SCAN_A) };
        let slot = running + rank;
        let take = is && slot < s.kept && (slot / TILE_M) % parts == q;
        let (pos, taken) = unsafe { block::scan_flag(take, smem + SCAN_B) };
        if take {
            let e = first + i;
            unsafe {
                copy::st_shared_u32(smem + ROW_LIST + pos * 8, meta_word(e / k, e % k));
                copy::st_shared_u32(smem + ROW_LIST + pos * 8 + 4, slot);
            }
        }
        sync::sync_threads();
        let mut r = w;
        while r < taken {
            let (m, slot) = unsafe { (copy::ld_shared_u32(smem + ROW_LIST + r * 8), copy::ld_shared_u32(smem + ROW_LIST + r * 8 + 4)) };
            let token = m & 0x00ff_ffff;
            unsafe {
                if s.copy_rows {
                    copy_row(
                        (p.x + token as u64 * row_bytes as u64) as *const u8,
                        s.rows.add(slot as usize * row_bytes as usize),
                        row_bytes,
                        lane,
                    );
                }
                if lane == 0 {
                    *s.meta.add(slot as usize) = m;
                    *route_slot.add((token * k + (m >> 24)) as usize) = slot;
                }
            }
            r += 4;
        }
        sync::sync_threads();
        running += matches;
        g += TILE_M;
    }
}

/// One warp copies one row, 8 vectors of 16 bytes in flight per lane.
#[inline(always)]
unsafe fn copy_row(src: *const u8, dst: *mut u8, bytes: u32, lane: u32) {
    let vecs = bytes / 16;
    let mut v = lane;
    while v < vecs {
        let mut buf = [[0u32; 4]; 8];
        unroll!(8, b, {
            let i = v + 32 * b as u32;
            if i < vecs {
                buf[b] = unsafe { copy::ld_nc_v4(src.add(i as usize * 16)) };
            }
        });
        unroll!(8, b, {
            let i = v + 32 * b as u32;
            if i < vecs {
                unsafe { copy::st_v4(dst.add(i as usize * 16), buf[b]) };
            }
        });
        v += 256;
    }
}
