//! Subscribers (96 threads of the OS block): each owns a stride of the (source, local expert)
//! pairs and of the global experts. For a pair it learns the tile count from the tile-0 flag, then
//! turns each arrived row tile into GEMM0 tasks; for an expert it counts the row tiles of this GPU's
//! tokens whose outputs came back. Flags are read with ld.acquire.sys and never reset: a flag is
//! current when its epoch matches.

use super::queue::Queue;
use super::state;
use crate::fault::{self, Deadline};
use crate::layout::{MoeParams, TILE_M, flag_count, flag_epoch, gemm0_tiles, row_tiles, task_kind, wait_kind};
use crate::ptx::{copy, sync, time};

/// Runs subscriber `me` of `count` until every pair and expert it owns is complete.
///
/// # Safety
/// OS block only, after its setup barrier.
pub unsafe fn run(p: &MoeParams, smem: u32, q: &Queue, dl: &Deadline, me: u32, count: u32) {
    let heap = p.heaps[p.rank as usize];
    let tiles_per_pair = row_tiles(p.capacity) as u64;
    let dispatch_flags = (heap + p.heap.dispatch_flags) as *const u64;
    let return_flags = (heap + p.heap.return_flags) as *const u64;
    let n0 = gemm0_tiles(p.inter, p.gated());
    let ctl = fault::control(p);
    loop {
        // The first thing still awaited: (kind, pair or expert, tile, last flag value).
        let mut waiting: Option<(u32, u32, u32, u64)> = None;
        let mut pair = me;
        while pair < p.world * p.local_experts {
            let flags = unsafe { dispatch_flags.add((pair as u64 * tiles_per_pair) as usize) };
            let mut tiles = unsafe { copy::ld_shared_u32(smem + state::PAIR_TILES + pair * 4) };
            let mut next = unsafe { copy::ld_shared_u32(smem + state::PAIR_NEXT + pair * 4) };
            loop {
                let tile = if tiles == state::UNKNOWN { 0 } else { next };
                if tiles != state::UNKNOWN && next >= tiles {
                    break;
                }
                let word = unsafe { sync::ld_acquire_sys_u64(flags.add(tile as usize)) };
                if flag_epoch(word) != p.epoch {
                    waiting = waiting.or(Some((wait_kind::DISPATCH_FLAG, pair, tile, word)));
                    break;
                }
                let routed = flag_count(word);
                if tiles == state::UNKNOWN {
                    tiles = row_tiles(routed);
                    unsafe {
                        copy::st_shared_u32(smem + state::PAIR_TILES + pair * 4, tiles);
                        // Total before count: the scheduler reads PAIRS_KNOWN first.
                        sync::atom_add_cta_shared_u32(smem + state::ROWS_TOTAL, tiles);
                        sync::atom_add_cta_shared_u32(smem + state::PAIRS_KNOWN, 1);
                    }
                    continue;
                }
                let rows = (routed - next * TILE_M).min(TILE_M);
                let first = unsafe { q.reserve(n0) };
                for n in 0..n0 {
                    unsafe { q.publish(first + n, task_kind::GEMM0, pair, next, n, rows) };
                }
                unsafe { sync::atom_add_cta_shared_u32(smem + state::ROWS_PUBLISHED, 1) };
                next += 1;
            }
            unsafe { copy::st_shared_u32(smem + state::PAIR_NEXT + pair * 4, next) };
            pair += count;
        }
        let mut e = me;
        while e < p.experts {
            let tiles = unsafe { copy::ld_shared_u32(smem + state::RETURN_TILES + e * 4) };
            let mut next = unsafe { copy::ld_shared_u32(smem + state::RETURN_NEXT + e * 4) };
            while next < tiles {
                let word = unsafe { sync::ld_acquire_sys_u64(return_flags.add((e as u64 * tiles_per_pair) as usize + next as usize)) };
                if flag_epoch(word) != p.epoch {
                    waiting = waiting.or(Some((wait_kind::RETURN_FLAG, e, next, word)));
                    break;
                }
                unsafe { sync::atom_add_cta_shared_u32(smem + state::RETURNS_SEEN, 1) };
                next += 1;
            }
            unsafe { copy::st_shared_u32(smem + state::RETURN_NEXT + e * 4, next) };
            e += count;
        }
        let Some((kind, id, tile, word)) = waiting else { return };
        if unsafe { fault::aborted(ctl) } {
            return;
        }
        if time::global_timer_ns() > dl.root {
            let (peer, expert) = if kind == wait_kind::DISPATCH_FLAG {
                (id / p.local_experts, p.rank * p.local_experts + id % p.local_experts)
            } else {
                (id / p.local_experts, id)
            };
            unsafe { fault::timeout(p, kind, peer, expert, tile, word) };
            return;
        }
        time::nanosleep(64);
    }
}
