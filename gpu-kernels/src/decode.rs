//! The static decode plan (docs/decode-plan.md; `MoeParams::static_plan`): on one GPU, with few
//! enough tokens for one block to route them in one step, every block routes them itself
//! ([`crate::gate::route_all`]), lays out the same row tiles ([`prepare`]) and takes tasks by
//! index ([`task`]: `layout::StaticPlan`) instead of from published queue slots. No second grid
//! barrier, no dispatch, no flags, no OS block: block 0 processes too. Every block writes the
//! same values into the shared tables (routing, slots, tile descriptors), as relaxed stores.

use crate::block;
use crate::fault::{self, Deadline};
use crate::gemm::element::Element;
use crate::layout::{
    DROPPED, GEMM0_COUNTERS, MoeParams, NONE, StaticPlan, StaticTask, Task, TaskKind, TileDesc, WaitKind, combine_tasks, gemm0_tile_cols,
    gemm1_tiles, meta_word, split_gemm0_tasks, tile_info, tile_words,
};
use crate::ptx::{copy, sync, time};
use crate::smem::{SCAN_A, STATIC_PLAN};
use crate::util::thread_idx;

/// Shared scratch in the (still idle) pipeline memory.
#[repr(C)]
struct Scratch {
    /// Per expert: its routed rows.
    routed: [u32; 256],
}

const ROUTED: u32 = core::mem::offset_of!(Scratch, routed) as u32;
const _: () = assert!(core::mem::size_of::<Scratch>() as u32 <= crate::layout::PIPELINE_BYTES);

/// After [`crate::gate::route_all`]: ranks every (token, choice) among the expert's choices in
/// token order (its slot), forms one row tile per expert with kept rows (tiles in expert order),
/// and writes the slots, the dispatch meta words and the tile descriptors. Leaves the plan's row
/// tiles and the expected returned rows in shared memory for [`task`].
///
/// # Safety
/// All threads of the block; `p.tokens · p.top_k` at most 128, `p.experts` at most 256, one GPU.
pub unsafe fn prepare(p: &MoeParams, smem: u32) {
    let tid = thread_idx();
    let (k, experts) = (p.top_k, p.experts);
    let entries = p.tokens * k;
    let chosen = (p.workspace + p.ws.topk_expert) as *const u8;
    sync::sync_threads();
    let mut e = tid;
    while e < experts {
        unsafe { copy::st_shared_u32(smem + ROUTED + 4 * e, 0) };
        e += 128;
    }
    sync::sync_threads();
    // This block's own top-k stores, read back after its barrier.
    let mine = if tid < entries { (unsafe { *chosen.add(tid as usize) }) as u32 } else { NONE };
    let mut slot = 0;
    for i in 0..tid.min(entries) {
        if (unsafe { *chosen.add(i as usize) }) as u32 == mine {
            slot += 1;
        }
    }
    if mine < experts {
        unsafe { sync::atom_add_cta_shared_u32(smem + ROUTED + 4 * mine, 1) };
    }
    sync::sync_threads();
    // Row tiles in expert order, and the rows this GPU's tokens get back.
    let (mut tiles, mut kept_rows) = (0, 0);
    let mut e0 = 0;
    while e0 < experts {
        let e = e0 + tid;
        let kept = if e < experts { unsafe { copy::ld_shared_u32(smem + ROUTED + 4 * e) }.min(p.capacity) } else { 0 };
        let (before, total) = unsafe { block::scan_u32((kept > 0) as u32, smem + SCAN_A) };
        if kept > 0 {
            // Expert e's row tile: its kept rows, from slot 0 of this GPU's pair of it.
            let desc = unsafe { ((p.workspace + p.ws.tiles) as *mut TileDesc).add((tiles + before) as usize) } as *mut u32;
            unsafe {
                sync::st_relaxed_gpu_u32(desc.add(tile_words::LOCAL_EXPERT), e);
                sync::st_relaxed_gpu_u32(desc.add(tile_words::ROWS), kept);
                sync::st_relaxed_gpu_u32(desc.add(tile_words::SEGMENTS), 1);
                sync::st_relaxed_gpu_u32(desc.add(tile_words::PAIR), e);
                sync::st_relaxed_gpu_u32(desc.add(tile_words::SLOT), 0);
                sync::st_relaxed_gpu_u32(desc.add(tile_words::SEG_ROWS), kept);
            }
        }
        kept_rows += unsafe { block::sum_u32(kept, smem + SCAN_A) };
        tiles += total;
        e0 += 128;
    }
    // The (token, choice)'s slot, and the meta word GEMM0 gathers its row by and GEMM1 returns
    // it by (this GPU's pair of the expert: source 0).
    if tid < entries {
        let kept = mine < experts && slot < p.capacity;
        let route_slot = (p.workspace + p.ws.route_slot) as *mut u32;
        unsafe { sync::st_relaxed_gpu_u32(route_slot.add(tid as usize), if kept { slot } else { DROPPED }) };
        if kept {
            let heap = p.heaps[p.rank as usize];
            let meta = (heap + p.heap.dispatch_meta + (mine as u64 * p.slot_stride as u64 + slot as u64) * 4) as *mut u32;
            unsafe { sync::st_relaxed_gpu_u32(meta, meta_word(tid / k, tid % k)) };
        }
    }
    if tid == 0 {
        let returns = kept_rows * gemm1_tiles(p.hidden, p.tile_n()) * p.task_parts();
        unsafe {
            copy::st_shared_u32(smem + STATIC_PLAN, tiles);
            copy::st_shared_u32(smem + STATIC_PLAN + 4, returns);
        }
    }
    sync::sync_threads();
}

/// The plan [`prepare`] left in shared memory.
#[inline(always)]
unsafe fn plan(p: &MoeParams, smem: u32) -> StaticPlan {
    StaticPlan {
        tiles: unsafe { copy::ld_shared_u32(smem + STATIC_PLAN) },
        gemm0: p.gemm0_tasks(),
        splits: if p.gemm1_splits == 0 { 1 } else { p.gemm1_splits },
        gemm1: gemm1_tiles(p.hidden, p.tile_n()),
        combines: combine_tasks(p.tokens),
    }
}

/// Thread 0's task for claimed index `i`: a GEMM1 task once the GEMM0 tasks of its K split are
/// done, a combine task once every expert output came back (bounded waits: a timeout is
/// deferred like a processor's and the block exits).
///
/// # Safety
/// Thread 0 of a block after [`prepare`].
pub unsafe fn task<E: Element>(p: &MoeParams, smem: u32, dl: &Deadline, i: u32) -> Task {
    let exit = Task { kind: TaskKind::Exit as u32, ..Task::default() };
    let plan = unsafe { plan(p, smem) };
    // Row tile `tile`'s expert and rows, from the descriptor this block wrote.
    let of_tile = |tile: u32| {
        let desc = unsafe { ((p.workspace + p.ws.tiles) as *const TileDesc).add(tile as usize) } as *const u32;
        let e = unsafe { sync::ld_relaxed_gpu_u32(desc.add(tile_words::LOCAL_EXPERT)) };
        let rows = unsafe { sync::ld_relaxed_gpu_u32(desc.add(tile_words::ROWS)) };
        Task { tile, info: tile_info(e, 1, rows), pair: e, slot: 0, ..exit }
    };
    let ctl = fault::control(p);
    // Waits until `ready()`; false (the failure deferred) past the deadline or on an abort.
    let wait = |ready: &dyn Fn() -> bool, observed: &dyn Fn() -> u64| loop {
        if ready() {
            return true;
        }
        if unsafe { fault::aborted(p, ctl) } {
            unsafe { fault::defer(smem, crate::layout::ErrorCode::PeerAborted as u32, 0, i, 0, 0) };
            return false;
        }
        if time::global_timer_ns() > dl.secondary {
            unsafe { fault::defer(smem, crate::layout::ErrorCode::Timeout as u32, WaitKind::TaskSlot as u32, i, observed(), 0) };
            return false;
        }
        time::nanosleep(32);
    };
    match plan.task(i) {
        StaticTask::Gemm0 { tile, n } => Task { kind: TaskKind::Gemm0 as u32, n_tile: n, ..of_tile(tile) },
        StaticTask::Gemm1 { tile, split, col } => {
            let cols = gemm0_tile_cols(p.gated(), p.tile_n());
            let need = split_gemm0_tasks(split, cols, p.inter, E::BYTES, plan.splits);
            let counter = unsafe { ((p.workspace + p.ws.gemm0_done) as *const u32).add((tile * GEMM0_COUNTERS + split) as usize) };
            let done = || unsafe { sync::ld_acquire_gpu_u32(counter) };
            if !wait(&|| done() >= need, &|| done() as u64) {
                return exit;
            }
            Task { kind: TaskKind::Gemm1 as u32, n_tile: col * plan.splits + split, ..of_tile(tile) }
        }
        StaticTask::Combine(c) => {
            let expected = unsafe { copy::ld_shared_u32(smem + STATIC_PLAN + 4) };
            let word = unsafe { &raw const (*ctl).returned_rows } as *const u32;
            let returned = || unsafe { sync::ld_acquire_gpu_u32(word) };
            if !wait(&|| returned() >= expected, &|| returned() as u64) {
                return exit;
            }
            Task { kind: TaskKind::Combine as u32, tile: c, ..exit }
        }
        StaticTask::Exit => exit,
    }
}
