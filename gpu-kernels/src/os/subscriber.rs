//! Subscribers (96 threads of the OS block): each owns a stride of the pairs (source GPU, local
//! expert) that send rows to this GPU, and a stride of the local experts. A pair's row count
//! comes with its tile-0 flag (checked against the capacity; later flags must repeat it); every
//! arrived full tile becomes a row tile of its own at once. On several GPUs the partial last
//! tile of a pair goes to the expert's owner, which merges the partial tiles of all sources (up
//! to 128 rows each) so the expert's weights stream once for them; on one GPU it ends the pair's
//! last run of tiles. Each formed row tile gets its GEMM0 tasks. Flags are read with
//! ld.acquire.sys and never reset: a flag is current when its epoch matches.

use super::queue::Queue;
use super::state;
use crate::fault::{self, Deadline};
use crate::layout::{
    FaultKind, MAX_SEGMENTS, MoeParams, NONE, RowStream, TILE_M, Task, TaskKind, TileDesc, WaitKind, flag_count, flag_epoch, launch_tiles,
    row_stream, row_tiles, tile_info, timeline,
};
use crate::ptx::{copy, sync, time};

/// A segment of rows: (pair, first slot, rows).
type Segment = (u32, u32, u32);

use crate::layout::tile_words::{LOCAL_EXPERT, PAIR, ROWS, RUN_FIRST, RUN_TILES, SEG_ROWS, SEGMENTS, SLOT};

/// Full row tiles of one pair published together: their GEMM0 tasks go out n-major (below).
/// Eight tiles x `gemm0_tiles` tasks is about one wave of processors.
const MAX_RUN: u32 = 8;

/// A row tile being written: its descriptor words in the workspace.
struct NewTile {
    id: u32,
    words: *mut u32,
}

impl NewTile {
    /// The next `count` row tile ids; None (and a fault) past the tiles this launch can form,
    /// whose descriptors and counters were not prepared.
    #[inline(always)]
    unsafe fn new(p: &MoeParams, count: u32) -> Option<NewTile> {
        let id = unsafe { sync::atom_add_relaxed_gpu_u32(&raw mut (*fault::control(p)).tiles, count) };
        let bound = launch_tiles(p);
        if id + count > bound {
            unsafe { fault::fault(p, FaultKind::TileId as u32, (id + count - 1) as u64, bound as u64) };
            return None;
        }
        Some(NewTile { id, words: unsafe { ((p.workspace + p.ws.tiles) as *mut TileDesc).add(id as usize) } as *mut u32 })
    }

    /// Tile `i` of the run that starts here.
    #[inline(always)]
    fn nth(&self, i: u32) -> NewTile {
        NewTile { id: self.id + i, words: unsafe { (self.words as *mut TileDesc).add(i as usize) } as *mut u32 }
    }

    #[inline(always)]
    unsafe fn segment(&self, s: u32, seg: Segment) {
        unsafe {
            sync::st_relaxed_gpu_u32(self.words.add(PAIR + s as usize), seg.0);
            sync::st_relaxed_gpu_u32(self.words.add(SLOT + s as usize), seg.1);
            sync::st_relaxed_gpu_u32(self.words.add(SEG_ROWS + s as usize), seg.2);
        }
    }

    /// Completes the descriptor (the segments are written); the tile belongs to the run of
    /// `run.1` tiles from id `run.0`.
    #[inline(always)]
    unsafe fn describe(&self, local: u32, rows: u32, segments: u32, run: (u32, u32)) {
        unsafe {
            sync::st_relaxed_gpu_u32(self.words.add(LOCAL_EXPERT), local);
            sync::st_relaxed_gpu_u32(self.words.add(ROWS), rows);
            sync::st_relaxed_gpu_u32(self.words.add(SEGMENTS), segments);
            sync::st_relaxed_gpu_u32(self.words.add(RUN_FIRST), run.0);
            sync::st_relaxed_gpu_u32(self.words.add(RUN_TILES), run.1);
        }
    }

    /// Publishes the GEMM0 tasks of the `count` described tiles from this one, whose first
    /// segments start at `first` and move `slot_step` slots per tile; each has `rows` rows but
    /// the last, which has `last_rows`. The order is n-major (column tile n of every tile, then
    /// n + 1): tasks that read the same panel of the expert's weights are claimed together, so
    /// it streams from DRAM once for all of them. Tiles whose rows stream (`layout::RowStream`)
    /// queue their first tasks, which store the rows, in a reservation of their own: the lanes
    /// of a subscriber warp publish together, so every first task they publish is queued before
    /// any of their later tasks, which then mostly start once their rows are stored. The
    /// release fence before each run's stamps orders the descriptors before any processor
    /// reads them.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn publish(
        &self,
        p: &MoeParams,
        smem: u32,
        q: &Queue,
        local: u32,
        (rows, last_rows): (u32, u32),
        segments: u32,
        first: Segment,
        count: u32,
        slot_step: u32,
    ) {
        let task = Task { kind: TaskKind::Gemm0 as u32, info: tile_info(local, segments, rows), pair: first.0, ..Task::default() };
        let last_info = tile_info(local, segments, last_rows);
        let n0 = p.gemm0_tasks();
        let streams = n0 > 1 && matches!(row_stream(p, &task), RowStream::Stores);
        // Column tile n of tile i, n-major from column tile `n`, counted without a division per
        // task.
        let tasks = |mut n: u32| {
            let mut i = 0;
            move || {
                let info = if i + 1 == count { last_info } else { task.info };
                let t = Task { tile: self.id + i, slot: first.1 + i * slot_step, n_tile: n, info, ..task };
                i += 1;
                if i == count {
                    (i, n) = (0, n + 1);
                }
                t
            }
        };
        // Column tiles from `n` in one reservation: the first alone when it streams, then the rest
        // (one call site: two inlined copies made the f32 entry spill).
        let mut n = 0;
        while n < n0 {
            let columns = if n == 0 && streams { 1 } else { n0 - n };
            unsafe { q.publish_runs(p, q.reserve(columns * count), columns * count, tasks(n)) };
            n += columns;
        }
        unsafe { fault::mark_first(p, timeline::OS_FIRST_TILE, smem + state::MARKED + 4) };
    }
}

/// Forms and publishes a run of `count` row tiles of `pair` from its tile `next` on: full tiles
/// but the last, which has `last_rows` (the pair's partial last tile, on one GPU).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn publish_run(p: &MoeParams, smem: u32, q: &Queue, pair: u32, local: u32, next: u32, count: u32, last_rows: u32) {
    let Some(run) = (unsafe { NewTile::new(p, count) }) else { return };
    for i in 0..count {
        let tile = run.nth(i);
        let rows = if i + 1 == count { last_rows } else { TILE_M };
        unsafe {
            tile.segment(0, (pair, (next + i) * TILE_M, rows));
            tile.describe(local, rows, 1, (run.id, count));
        }
    }
    unsafe { run.publish(p, smem, q, local, (TILE_M, last_rows), 1, (pair, next * TILE_M, TILE_M), count, TILE_M) };
}

/// Emits the partial tile being merged for `local`, if any.
#[inline(always)]
unsafe fn flush(p: &MoeParams, smem: u32, q: &Queue, local: u32) {
    let count = unsafe { copy::ld_shared_u32(smem + state::MERGE_SEGMENTS + local * 4) };
    if count == 0 {
        return;
    }
    let seg = |s: u32| {
        let at = (local * MAX_SEGMENTS as u32 + s) * 4;
        unsafe {
            (
                copy::ld_shared_u32(smem + state::MERGE_PAIR + at),
                copy::ld_shared_u32(smem + state::MERGE_SLOT + at),
                copy::ld_shared_u32(smem + state::MERGE_N + at),
            )
        }
    };
    let Some(tile) = (unsafe { NewTile::new(p, 1) }) else { return };
    for s in 0..count {
        unsafe { tile.segment(s, seg(s)) };
    }
    unsafe {
        let rows = copy::ld_shared_u32(smem + state::MERGE_ROWS + local * 4);
        tile.describe(local, rows, count, (tile.id, 1));
        tile.publish(p, smem, q, local, (rows, rows), count, seg(0), 1, 0);
        copy::st_shared_u32(smem + state::MERGE_SEGMENTS + local * 4, 0);
        copy::st_shared_u32(smem + state::MERGE_ROWS + local * 4, 0);
    }
}

/// Adds a partial tile to `local`'s merge, first emitting the merge if the rows would not fit.
#[inline(always)]
unsafe fn merge(p: &MoeParams, smem: u32, q: &Queue, local: u32, seg: Segment) {
    if unsafe { copy::ld_shared_u32(smem + state::MERGE_ROWS + local * 4) } + seg.2 > TILE_M {
        unsafe { flush(p, smem, q, local) };
    }
    let count = unsafe { copy::ld_shared_u32(smem + state::MERGE_SEGMENTS + local * 4) };
    let at = (local * MAX_SEGMENTS as u32 + count) * 4;
    unsafe {
        copy::st_shared_u32(smem + state::MERGE_PAIR + at, seg.0);
        copy::st_shared_u32(smem + state::MERGE_SLOT + at, seg.1);
        copy::st_shared_u32(smem + state::MERGE_N + at, seg.2);
        copy::st_shared_u32(smem + state::MERGE_SEGMENTS + local * 4, count + 1);
        let rows = copy::ld_shared_u32(smem + state::MERGE_ROWS + local * 4);
        copy::st_shared_u32(smem + state::MERGE_ROWS + local * 4, rows + seg.2);
    }
}

/// Takes in every arrived tile of `pair`: full tiles become row tiles at once, the partial last
/// tile is left for the expert's owner on several GPUs and ends the last run on one. Ok when
/// the pair is complete, else the awaited (tile, last flag value). A count that breaks its bound is a fault, and the pair stops there.
#[inline(always)]
unsafe fn advance(p: &MoeParams, smem: u32, q: &Queue, pair: u32) -> Result<(), (u32, u64)> {
    let flags = unsafe { ((p.heaps[p.rank as usize] + p.heap.dispatch_flags) as *const u64).add((pair * p.tile_stride) as usize) };
    let local = pair % p.local_experts;
    let whose = (pair / p.local_experts, p.rank * p.local_experts + local);
    let mut routed = unsafe { copy::ld_shared_u32(smem + state::PAIR_ROUTED + pair * 4) };
    let mut next = unsafe { copy::ld_shared_u32(smem + state::PAIR_NEXT + pair * 4) };
    // Tiles found in this call and not yet published: the run of `run` tiles from `first`, full
    // but the last, which has `last_rows` (on one GPU the pair's partial last tile ends its run:
    // no other source's rows merge with it, and its tasks are claimed with the run's, so the
    // weight panels they share stream from DRAM once; published apart, they were read again
    // waves later). A run goes out at MAX_RUN tiles and when the call ends (one call site:
    // more made the f32 entry spill).
    let (mut first, mut run, mut last_rows) = (next, 0, TILE_M);
    let result = loop {
        let mut end = None;
        if routed != state::UNKNOWN && next >= row_tiles(routed) {
            end = Some(Ok(()));
        } else {
            let tile = if routed == state::UNKNOWN { 0 } else { next };
            let word = unsafe { sync::ld_acquire_sys_u64(flags.add(tile as usize)) };
            let count = flag_count(word);
            if flag_epoch(word) != p.epoch {
                end = Some(Err((tile, word)));
            } else if routed == state::UNKNOWN {
                unsafe { fault::mark_first(p, timeline::OS_FIRST_FLAG, smem + state::MARKED) };
                if count > p.capacity {
                    unsafe { fault::fault_at(p, FaultKind::FlagCount as u32, (whose.0, whose.1, 0), count as u64, p.capacity as u64) };
                    end = Some(Err((tile, word)));
                } else {
                    routed = count;
                    unsafe { copy::st_shared_u32(smem + state::PAIR_ROUTED + pair * 4, routed) };
                }
            } else if count != routed {
                unsafe { fault::fault_at(p, FaultKind::FlagMismatch as u32, (whose.0, whose.1, tile), count as u64, routed as u64) };
                end = Some(Err((tile, word)));
            } else {
                let rows = (routed - next * TILE_M).min(TILE_M);
                if rows == TILE_M || p.world == 1 {
                    if run == 0 {
                        first = next;
                    }
                    (run, last_rows) = (run + 1, rows);
                } else {
                    // The partial last tile, left for the merge: the run ends before it (the
                    // next iteration ends the call).
                    unsafe {
                        copy::st_shared_u32(smem + state::PAIR_PARTIAL_SLOT + pair * 4, next * TILE_M);
                        copy::st_shared_u32(smem + state::PAIR_PARTIAL_ROWS + pair * 4, rows);
                    }
                }
                next += 1;
            }
        }
        if run > 0 && (run == MAX_RUN || end.is_some()) {
            unsafe { publish_run(p, smem, q, pair, local, first, run, last_rows) };
            (run, last_rows) = (0, TILE_M);
        }
        if let Some(result) = end {
            break result;
        }
    };
    unsafe { copy::st_shared_u32(smem + state::PAIR_NEXT + pair * 4, next) };
    result
}

/// Merges the partial tiles of `local`'s sources once every source is complete. True when done.
#[inline(always)]
unsafe fn finish_expert(p: &MoeParams, smem: u32, q: &Queue, local: u32) -> bool {
    for src in 0..p.world {
        let pair = src * p.local_experts + local;
        if unsafe { sync::ld_acquire_cta_shared_u32(smem + state::PAIR_COMPLETE + pair * 4) } == 0 {
            return false;
        }
    }
    for src in 0..p.world {
        let pair = src * p.local_experts + local;
        let rows = unsafe { copy::ld_shared_u32(smem + state::PAIR_PARTIAL_ROWS + pair * 4) };
        if rows > 0 {
            unsafe { merge(p, smem, q, local, (pair, copy::ld_shared_u32(smem + state::PAIR_PARTIAL_SLOT + pair * 4), rows)) };
        }
    }
    unsafe {
        flush(p, smem, q, local);
        copy::st_shared_u32(smem + state::EXPERT_DONE + local * 4, 1);
        sync::atom_add_cta_shared_u32(smem + state::EXPERTS_DONE, 1);
    }
    true
}

/// Runs subscriber `me` of `count` until its pairs are complete and its experts' tiles formed.
///
/// # Safety
/// OS block only, after its setup barrier.
pub unsafe fn run(p: &MoeParams, smem: u32, q: &Queue, dl: &Deadline, me: u32, count: u32) {
    let ctl = fault::control(p);
    loop {
        // The first flag still awaited: (pair, tile, last value); and whether anything is left.
        let mut waiting: Option<(u32, u32, u64)> = None;
        let mut pending = false;
        let mut pair = me;
        while pair < p.world * p.local_experts {
            if unsafe { copy::ld_shared_u32(smem + state::PAIR_COMPLETE + pair * 4) } == 0 {
                match unsafe { advance(p, smem, q, pair) } {
                    // Partial tile first, then "complete" with release for the expert's owner.
                    Ok(()) => unsafe {
                        sync::atom_add_cta_shared_u32(smem + state::PAIR_COMPLETE + pair * 4, 1);
                    },
                    Err((tile, word)) => {
                        waiting = waiting.or(Some((pair, tile, word)));
                        pending = true;
                    }
                }
            }
            pair += count;
        }
        let mut local = me;
        while local < p.local_experts {
            if unsafe { copy::ld_shared_u32(smem + state::EXPERT_DONE + local * 4) } == 0 && !unsafe { finish_expert(p, smem, q, local) } {
                pending = true;
            }
            local += count;
        }
        if !pending {
            return;
        }
        if unsafe { fault::aborted(p, ctl) } {
            unsafe { fault::stopped(p) };
            return;
        }
        let now = time::global_timer_ns();
        if let Some((pair, tile, word)) = waiting
            && now > dl.root
        {
            let (src, expert) = (pair / p.local_experts, p.rank * p.local_experts + pair % p.local_experts);
            unsafe { fault::timeout(p, WaitKind::DispatchFlag as u32, src, expert, tile, word) };
            return;
        }
        if now > dl.secondary {
            unsafe { fault::timeout(p, WaitKind::Termination as u32, NONE, NONE, NONE, 0) };
            return;
        }
        time::nanosleep(64);
    }
}
