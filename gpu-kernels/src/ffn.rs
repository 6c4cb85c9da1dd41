//! Expert FFN tile tasks over a row tile ([`TileDesc`]: up to 128 rows from one or more sources).
//! GEMM0: one output tile of act(rows·W1ᵀ + b1) [* up(rows·W3ᵀ + b3)] into the staging rows of
//! their (pair, slot) (`up` is the identity but for GPT-OSS's clamped SwiGLU). GEMM1: one output
//! tile of staging·W2ᵀ + b2, each row stored straight into its token's slot `[token][j]` on the
//! token's home GPU, then counted into that GPU's returned-rows word. The block finishing a
//! tile's last GEMM0 task publishes its GEMM1 tasks.
//!
//! The shared expert runs through the same tasks: its row tiles (ids past the experts', see
//! [`crate::layout::shared_tiles`]) hold this GPU's tokens `128 s ..` in order (the task's
//! slot), read in place from the input whatever the router; GEMM0 is always gated (S1, S3),
//! without biases, into `shared_staging`; GEMM1 (S2, K = Is) writes each token's slot `top_k`
//! on this GPU and counts the rows into its returned-rows word like routed rows.
//!
//! One task body serves both kinds at run time, so each task kind keeps one mainloop: a second
//! inlined mainloop made the wgmma entries spill, a wgmma in a called function would serialize
//! them all, and out-of-line shared tasks made the mma.sync task loops spill 600+ bytes.
//! `gemm0` carries an inline hint: without it LLVM stopped inlining it into the mma.sync task
//! loops once it had the shared branches (then 416-492 spill bytes there; see CHANGELOG).

use core::mem::offset_of;

use crate::fault;
use crate::gemm::activation;
use crate::gemm::element::{Element, F32, Mma};
use crate::gemm::epilogue;
use crate::gemm::mainloop::{Rows, mainloop, zero_acc};
use crate::layout::{
    Control, ErrorCode, FaultKind, GEMM0_COUNTERS, MAX_GEMM1_SPLITS, MAX_SEGMENTS, MoeParams, TILE_K_BYTES, TILE_M, TILE_N, Task, TaskKind,
    TileDesc, gemm0_task_splits, gemm0_tile_cols, gemm0_tiles, gemm1_partial_bytes, gemm1_partial_rows, gemm1_tiles, launch_tiles, meta_j,
    meta_token, segment_in_bounds, split_gemm0_tasks, tile_info_parts,
};
use crate::os::queue::Queue;
use crate::ptx::{copy, sync};
use crate::smem::{A_ROWS, BROADCAST, OUT_ROWS, TASK};
use crate::util::thread_idx;
// What the warp-specialized engine's task steps (sm_90a) use besides.
#[cfg(target_feature = "sm_90a")]
use crate::{
    gemm::mainloop::TmaB,
    group::Group,
    layout::{NONE, RowStream, a_box_row, region_row, row_stream, run_gemm1_task, run_in_bounds, ws_counters},
};

/// A row tile of a task in global memory ([`TileDesc`], written by a subscriber in this launch,
/// so read coherently). Its segments are read where they are: indexing a register copy by a
/// run-time segment number would put it in local memory.
pub(crate) struct Tile {
    words: *const u32,
    pub(crate) local_expert: u32,
    pub(crate) rows: u32,
    segments: u32,
    /// The first segment's pair and slot (from the task).
    pair: u32,
    slot: u32,
}

use crate::layout::tile_words::{PAIR, SEG_ROWS, SLOT};
#[cfg(target_feature = "sm_90a")]
use crate::layout::tile_words::{ROWS, RUN_FIRST, RUN_TILES};

impl Tile {
    /// The task's row tile: what the task carries (local expert, segments, rows, first segment).
    #[inline(always)]
    fn of(p: &MoeParams, task: &Task) -> Tile {
        let words = Self::words_of(p, task.tile);
        let (local_expert, segments, rows) = tile_info_parts(task.info);
        Tile { words, local_expert, rows, segments: segments.min(MAX_SEGMENTS as u32), pair: task.pair, slot: task.slot }
    }

    /// Row tile `id`'s descriptor words.
    #[inline(always)]
    fn words_of(p: &MoeParams, id: u32) -> *const u32 {
        ((p.workspace + p.ws.tiles) as *const TileDesc).wrapping_add(id as usize) as *const u32
    }

    #[inline(always)]
    fn word(&self, i: usize) -> u32 {
        unsafe { sync::ld_relaxed_gpu_u32(self.words.add(i)) }
    }

    /// (pair, slot) of row `r`; only merged tiles read their descriptor, whose segments are
    /// checked ([`segment_in_bounds`]): None when a segment is out of range or the rows run out.
    #[inline(always)]
    fn locate(&self, p: &MoeParams, r: u32) -> Option<(u32, u32)> {
        if self.segments == 1 {
            return Some((self.pair, self.slot + r));
        }
        let mut first = 0;
        for s in 0..self.segments as usize {
            let (pair, slot, n) = (self.word(PAIR + s), self.word(SLOT + s), self.word(SEG_ROWS + s));
            if !segment_in_bounds(p, self.local_expert, pair, slot, n) {
                return None;
            }
            if r < first + n {
                return Some((pair, slot + r - first));
            }
            first += n;
        }
        None
    }
}

/// Ends a task's set-up: a block barrier that also learns whether any thread found an
/// out-of-range value (`bad`: fault kind, value, bound), which it leaves in the block's mailbox.
/// True: the task must stop.
#[inline(always)]
unsafe fn any_fault(smem: u32, bad: Option<(u32, u64, u64)>, tile: u32) -> bool {
    if let Some((kind, value, bound)) = bad {
        unsafe { fault::defer(smem, ErrorCode::Fault as u32, kind, tile, value, bound) };
    }
    sync::sync_threads_or(bad.is_some())
}

/// The token and top-k rank in a dispatch-meta word, checked against this launch (the word was
/// written by the source GPU's dispatch): Err(fault) when out of range.
#[inline(always)]
fn meta_parts(p: &MoeParams, m: u32) -> Result<(u32, u32), (u32, u64, u64)> {
    let (token, j) = (meta_token(m), meta_j(m));
    if token < p.tokens && j < p.top_k { Ok((token, j)) } else { Err((FaultKind::Meta as u32, m as u64, p.tokens as u64)) }
}

#[inline(always)]
unsafe fn set_row(table: u32, r: u32, addr: u64) {
    unsafe { copy::st_shared_v2(table + r * 8, addr as u32, (addr >> 32) as u32) };
}

/// Where GEMM0 reads the A row of slot `at` (pair · slot_stride + slot) of `pair`: this GPU's
/// own routed rows in place in the input (the token from the slot's meta word), a peer's (or a
/// copied one's) in the dispatch region. Err: the meta word's fault (kind, value, bound).
///
/// # Safety
/// The slot was dispatched in this launch.
#[inline(always)]
unsafe fn gemm0_a_row(p: &MoeParams, pair: u32, at: u64, row_bytes: u64) -> Result<u64, (u32, u64, u64)> {
    let heap = p.heaps[p.rank as usize];
    if pair / p.local_experts == p.rank && !p.copy_local() {
        let m = unsafe { sync::ld_relaxed_gpu_u32((heap + p.heap.dispatch_meta + at * 4) as *const u32) };
        meta_parts(p, m).map(|(token, _)| p.x + token as u64 * row_bytes)
    } else {
        Ok(heap + p.heap.dispatch_rows + at * row_bytes)
    }
}

#[inline(always)]
pub unsafe fn row(table: u32, r: u32) -> u64 {
    unsafe { (copy::ld_shared_u32(table + r * 8) as u64) | ((copy::ld_shared_u32(table + r * 8 + 4) as u64) << 32) }
}

/// Whether the block's current task is a shared-expert row tile, from its tile id in the task
/// words the processor loop left in shared memory (`smem::TASK`, word 1): re-read after a
/// mainloop, so that no register holds the choice across it.
#[inline(always)]
unsafe fn shared_task(p: &MoeParams, smem: u32) -> bool {
    (unsafe { copy::ld_shared_u32(smem + TASK + 4) }) >= launch_tiles(p)
}

/// Row `r` of a shared-expert tile in the row tables: GEMM0 (`second` false) reads token
/// `token`'s input row and writes its staging row; GEMM1 reads the staging row and writes the
/// token's slot `top_k` on this GPU, at byte `column`. Out of line: a few instructions per
/// task, kept out of the task loop's code.
#[inline(never)]
unsafe fn shared_rows<E: Element>(p: &MoeParams, smem: u32, token: u32, column: u64, second: bool) {
    let r = thread_idx();
    let (row_bytes, inter_bytes) = ((p.hidden * E::BYTES) as u64, (p.shared_inter * E::BYTES) as u64);
    let token = token as u64;
    let staging = p.workspace + p.ws.shared_staging + token * inter_bytes;
    unsafe {
        if second {
            let slot = token * p.combine_stride() as u64 + p.top_k as u64;
            set_row(smem + A_ROWS, r, staging);
            set_row(smem + OUT_ROWS, r, p.heaps[p.rank as usize] + p.heap.combine_slots + slot * row_bytes + column);
        } else {
            set_row(smem + A_ROWS, r, p.x + token * row_bytes);
            set_row(smem + OUT_ROWS, r, staging);
        }
    }
}

/// GEMM0 task: A rows are read where they are (this GPU's own tokens straight from the input,
/// peers' rows from the dispatch region), outputs go to staging. False (on every thread) when a
/// value was out of range: the fault is in the block's mailbox and nothing was written with it.
///
/// # Safety
/// All threads of a processor block, for a published task.
#[inline] // see the module comment
pub unsafe fn gemm0<E: Mma>(p: &MoeParams, smem: u32, q: &Queue, task: &Task) -> bool {
    let t = Tile::of(p, task);
    let shared = task.tile >= launch_tiles(p);
    let inter = if shared { p.shared_inter } else { p.inter };
    let (row_bytes, inter_bytes) = ((p.hidden * E::BYTES) as u64, (inter * E::BYTES) as u64);
    let tid = thread_idx();
    let mut bad = None;
    if tid < t.rows {
        if shared {
            unsafe { shared_rows::<E>(p, smem, task.slot + tid, 0, false) };
        } else {
            match t.locate(p, tid) {
                Some((pair, slot)) => {
                    let at = pair as u64 * p.slot_stride as u64 + slot as u64;
                    let a = unsafe { gemm0_a_row(p, pair, at, row_bytes) }.unwrap_or_else(|f| {
                        bad = Some(f);
                        p.x
                    });
                    unsafe {
                        set_row(smem + A_ROWS, tid, a);
                        set_row(smem + OUT_ROWS, tid, p.workspace + p.ws.staging + at * inter_bytes);
                    }
                }
                None => bad = Some((FaultKind::Segment as u32, tid as u64, t.rows as u64)),
            }
        }
    }
    if unsafe { any_fault(smem, bad, task.tile) } {
        return false;
    }
    // A shared tile's local expert is 0 (its task info says so): no offset into its weights.
    let local = t.local_expert;
    // Task column n · splits + s: K split s of column tile n (the shared expert never splits).
    let splits = if shared { 1 } else { p.gemm0_splits() };
    let (n, split) = (task.n_tile / splits, task.n_tile % splits);
    let col0 = {
        let gated = p.gated() || shared;
        let (w1, w3) = if shared { (p.shared_w1, p.shared_w3) } else { (p.w1, p.w3) };
        let col0 = n * gemm0_tile_cols(gated, TILE_N);
        // This split's K range, in whole 128-byte K tiles.
        let k_tiles = row_bytes as u32 / TILE_K_BYTES;
        let (k0, k1) = (split * k_tiles / splits, (split + 1) * k_tiles / splits);
        let k_off = (k0 * TILE_K_BYTES) as u64;
        let w_row0 = (local * inter + col0) as u64 * row_bytes + k_off;
        let a = Rows::gathered(smem + A_ROWS, k_off, t.rows);
        let b = if gated {
            Rows { base: (w1 + w_row0) as *const u8, gate_rows: (w3 + w_row0) as *const u8, stride: row_bytes, valid: TILE_N, table: 0 }
        } else {
            Rows::new((w1 + w_row0) as *const u8, row_bytes, (inter - col0).min(TILE_N))
        };
        let mut acc = zero_acc();
        unsafe {
            mainloop::<E, true>(smem, &a, &b, (k1 - k0) * TILE_K_BYTES, &mut acc);
            epilogue::stage::<E>(smem, &acc);
        }
        col0
    };
    // A split that is not the column tile's last is done once its partial is out; the last one
    // goes on with the summed tile (every staged column: gated tiles hold W1's and W3's).
    if splits > 1 {
        let staged_cols = if p.gated() { TILE_N } else { (inter - col0).min(TILE_N) };
        let column_tile = task.tile * gemm0_tiles(inter, p.gated(), TILE_N) + n;
        match unsafe { sum_splits(p, smem, SplitGemm::Gemm0, task.tile, column_tile, split, splits, t.rows, staged_cols) } {
            Some(true) => {}
            Some(false) => return true,
            None => return false,
        }
    }

    let shared = unsafe { shared_task(p, smem) };
    let (inter, gated) = if shared { (p.shared_inter, true) } else { (p.inter, p.gated()) };
    let (b1, b3) = ((p.b1 + (local * inter * E::BYTES) as u64) as *const u8, (p.b3 + (local * inter * E::BYTES) as u64) as *const u8);
    let (bias, act) = (p.has_bias() && !shared, activation::Act::of(p));
    let value = |c: u32, x: &mut [f32; 8], g: &[f32; 8]| unsafe {
        if bias {
            add_bias::<E>(b1, col0 + c, x);
        }
        activate::<E>(act, gated, bias, b3, col0 + c, x, g);
    };
    let column = col0 as u64 * E::BYTES as u64;
    let dest = |r: u32| (unsafe { row(smem + OUT_ROWS, r) } + column) as *mut u8;
    let cols = if gated { TILE_N / 2 } else { (inter - col0).min(TILE_N) };
    unsafe { epilogue::emit::<E>(smem, gated, t.rows, cols, value, dest) };

    // The block that finishes the last GEMM0 task feeding a K split of GEMM1 publishes that
    // split's tasks (column tile n, split s as task column n · splits + s): at decode a row
    // tile's first splits start while its other GEMM0 tasks still run.
    let splits = gemm1_splits(p, shared);
    let n1 = gemm1_tiles(p.hidden, TILE_N);
    let counters = unsafe { ((p.workspace + p.ws.gemm0_done) as *mut u32).add((task.tile * GEMM0_COUNTERS) as usize) };
    if tid == 0 {
        let cols = gemm0_tile_cols(gated, TILE_N);
        let (s0, s1) = gemm0_task_splits(n, cols, inter, E::BYTES, splits);
        sync::fence_acq_rel_gpu();
        let mut ready = 0u32;
        for s in s0..=s1 {
            let need = split_gemm0_tasks(s, cols, inter, E::BYTES, splits);
            if unsafe { sync::atom_add_acq_rel_gpu_u32(counters.add(s as usize), 1) } == need - 1 {
                ready |= 1 << s;
            }
        }
        // The static decode plan takes GEMM1 tasks by index once these counters allow.
        if p.static_plan() {
            ready = 0;
        }
        let first = if ready != 0 { unsafe { q.reserve(ready.count_ones() * n1) } } else { 0 };
        unsafe {
            copy::st_shared_u32(smem + BROADCAST, ready);
            copy::st_shared_u32(smem + BROADCAST + 4, first);
        }
    }
    sync::sync_threads();
    let (ready, first) = unsafe { (copy::ld_shared_u32(smem + BROADCAST), copy::ld_shared_u32(smem + BROADCAST + 4)) };
    let mut full = None;
    let mut i = tid;
    while i < ready.count_ones() * n1 {
        // Task i: column tile i % n1 of the (i / n1)-th ready split.
        let s = nth_set_bit(ready, i / n1);
        if !unsafe { q.publish(first + i, &Task { kind: TaskKind::Gemm1 as u32, n_tile: (i % n1) * splits + s, ..*task }) } {
            full = Some((FaultKind::QueueFull as u32, (first + i) as u64, q.capacity() as u64));
        }
        i += TILE_M;
    }
    if unsafe { any_fault(smem, full, task.tile) } {
        return false;
    }
    // The tile's GEMM1 tasks are all queued once its last split's are (the scheduler's count).
    if ready != 0 && tid == 0 {
        let queued = ready.count_ones();
        if unsafe { sync::atom_add_acq_rel_gpu_u32(counters.add(MAX_GEMM1_SPLITS as usize), queued) } + queued == splits {
            unsafe { sync::red_add_release_gpu_u32(&raw mut (*fault::control(p)).gemm1_rows_published, 1) };
        }
    }
    true
}

/// The position of the `k`-th (from 0) set bit of `mask` (one that has more than k).
#[inline(always)]
fn nth_set_bit(mask: u32, k: u32) -> u32 {
    let mut m = mask;
    for _ in 0..k {
        m &= m - 1;
    }
    m.trailing_zeros()
}

/// GEMM1 task; false as for [`gemm0`].
///
/// # Safety
/// All threads of a processor block, for a published task.
pub unsafe fn gemm1<E: Mma>(p: &MoeParams, smem: u32, task: &Task) -> bool {
    let t = Tile::of(p, task);
    let shared = task.tile >= launch_tiles(p);
    let splits = gemm1_splits(p, shared);
    let (n, split) = (task.n_tile / splits, task.n_tile % splits);
    let inter = if shared { p.shared_inter } else { p.inter };
    let (row_bytes, inter_bytes) = ((p.hidden * E::BYTES) as u64, (inter * E::BYTES) as u64);
    let heap = p.heaps[p.rank as usize];
    let col0 = n * TILE_N;
    let column = col0 as u64 * E::BYTES as u64;
    let k = p.combine_stride() as u64;
    let tid = thread_idx();
    let mut bad = None;
    if tid < t.rows {
        if shared {
            unsafe { shared_rows::<E>(p, smem, task.slot + tid, column, true) };
        } else {
            match t.locate(p, tid) {
                Some((pair, slot)) => {
                    let at = pair as u64 * p.slot_stride as u64 + slot as u64;
                    let m = unsafe { sync::ld_relaxed_gpu_u32((heap + p.heap.dispatch_meta + at * 4) as *const u32) };
                    match meta_parts(p, m) {
                        Ok((token, j)) => {
                            let home = p.heaps[(pair / p.local_experts) as usize];
                            let slot_row = token as u64 * k + j as u64;
                            unsafe {
                                set_row(smem + A_ROWS, tid, p.workspace + p.ws.staging + at * inter_bytes);
                                set_row(smem + OUT_ROWS, tid, home + p.heap.combine_slots + slot_row * row_bytes + column);
                            }
                        }
                        Err(f) => bad = Some(f),
                    }
                }
                None => bad = Some((FaultKind::Segment as u32, tid as u64, t.rows as u64)),
            }
        }
    }
    if unsafe { any_fault(smem, bad, task.tile) } {
        return false;
    }
    let local = t.local_expert;
    let cols = (p.hidden - col0).min(TILE_N);
    {
        // This split's K range, in whole 128-byte K tiles.
        let k_tiles = inter_bytes as u32 / TILE_K_BYTES;
        let (k0, k1) = (split * k_tiles / splits, (split + 1) * k_tiles / splits);
        let k_off = (k0 * TILE_K_BYTES) as u64;
        let w2 = if shared { p.shared_w2 } else { p.w2 };
        let a = Rows::gathered(smem + A_ROWS, k_off, t.rows);
        let b = Rows::new((w2 + (local * p.hidden + col0) as u64 * inter_bytes + k_off) as *const u8, inter_bytes, cols);
        let mut acc = zero_acc();
        unsafe {
            mainloop::<E, true>(smem, &a, &b, (k1 - k0) * TILE_K_BYTES, &mut acc);
            epilogue::stage::<E>(smem, &acc);
        }
    }
    // A split that is not the column tile's last is done once its partial is out.
    if splits > 1 {
        let column_tile = task.tile * gemm1_tiles(p.hidden, TILE_N) + n;
        match unsafe { sum_splits(p, smem, SplitGemm::Gemm1, task.tile, column_tile, split, splits, t.rows, cols) } {
            Some(true) => {}
            Some(false) => return true,
            None => return false,
        }
    }

    let shared = unsafe { shared_task(p, smem) };
    let b2 = (p.b2 + ((local * p.hidden + col0) * E::BYTES) as u64) as *const u8;
    let bias = p.has_bias() && !shared;
    let value = |c: u32, x: &mut [f32; 8], _: &[f32; 8]| {
        if bias {
            unsafe { add_bias::<E>(b2, c, x) };
        }
    };
    let dest = |r: u32| unsafe { row(smem + OUT_ROWS, r) } as *mut u8;
    unsafe { epilogue::emit::<E>(smem, false, t.rows, cols, value, dest) };
    // The rows are stored (emit ends with a block barrier); rows for a home reached by puts go
    // there first.
    #[cfg(feature = "nvshmem")]
    if p.put_peers != 0 {
        unsafe { crate::nvshmem::put_rows(p, smem + OUT_ROWS, 0, t.rows, cols * E::BYTES, tid, 128) };
        sync::sync_threads();
    }
    if tid == 0 {
        unsafe { report_returned_rows::<true>(p, &t, shared) };
    }
    true
}

/// K splits of a GEMM1 task: the forward's for routed row tiles, none for the shared expert's.
#[inline(always)]
fn gemm1_splits(p: &MoeParams, shared: bool) -> u32 {
    if shared || p.gemm1_splits == 0 { 1 } else { p.gemm1_splits }
}

/// Which GEMM a K-split partial belongs to: GEMM1's take the first half of the partial region
/// and of its count words, GEMM0's the second (`layout::workspace_layout`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum SplitGemm {
    Gemm1,
    Gemm0,
}

/// A K-split GEMM task after its mainloop (the staged f32 tile holds this split's sums):
/// writes the partial of split `split` of `splits` of column tile `column_tile` (dense over the
/// launch's row tiles), counts the split done and, in the block that finishes the column
/// tile's last split, stages the sum of all partials in split order (deterministic, whichever
/// split ends last) for the epilogue: Some(true). Some(false): another split finishes the
/// tile. None: a slot past the partial region (a fault is raised against row tile `tile`).
///
/// # Safety
/// All threads of a processor block, after `epilogue::stage`. A function of its own: inlined, it
/// added 12 to 36 spill bytes to the mma.sync task loops.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
unsafe fn sum_splits(
    p: &MoeParams,
    smem: u32,
    gemm: SplitGemm,
    tile: u32,
    column_tile: u32,
    split: u32,
    splits: u32,
    rows: u32,
    cols: u32,
) -> Option<bool> {
    let tid = thread_idx();
    // Partials of this forward's size: at decode a few rows each.
    let (partial_rows, slot_bytes) = (gemm1_partial_rows(p.world, p.tokens), gemm1_partial_bytes(p.world, p.tokens));
    let slots = (p.ws.gemm1_split_done - p.ws.gemm1_partials) / slot_bytes / 2;
    let counts = (p.ws.queue - p.ws.gemm1_split_done) / 4 / 2;
    let (slot0, count0) = if gemm == SplitGemm::Gemm0 { (slots, counts) } else { (0, 0) };
    let first = column_tile as u64 * splits as u64;
    let bad = if first + splits as u64 > slots {
        Some((FaultKind::PartialSlot as u32, first + splits as u64 - 1, slots))
    } else if column_tile as u64 >= counts {
        Some((FaultKind::PartialSlot as u32, column_tile as u64, counts))
    } else if rows > partial_rows {
        Some((FaultKind::PartialSlot as u32, rows as u64, partial_rows as u64))
    } else {
        None
    };
    if unsafe { any_fault(smem, bad, tile) } {
        return None;
    }
    let (first, column_tile) = (slot0 + first, count0 + column_tile as u64);
    let partial = |s: u32, r: u32| p.workspace + p.ws.gemm1_partials + (first + s as u64) * slot_bytes + (r * TILE_N * 4) as u64;
    unsafe { epilogue::emit::<F32>(smem, false, rows, cols, |_, _, _| {}, |r| partial(split, r) as *mut u8) };
    // emit ended with a block barrier: every row of the partial is stored.
    if tid == 0 {
        let done = (p.workspace + p.ws.gemm1_split_done) as *mut u32;
        sync::fence_acq_rel_gpu();
        let last = unsafe { sync::atom_add_acq_rel_gpu_u32(done.add(column_tile as usize), 1) } == splits - 1;
        unsafe { copy::st_shared_u32(smem + BROADCAST, last as u32) };
    }
    sync::sync_threads();
    if unsafe { copy::ld_shared_u32(smem + BROADCAST) } == 0 {
        return Some(false);
    }
    // The other splits' partials were released before their count: read at L2, 16 bytes at a
    // time, summed in split order.
    let vecs = cols.div_ceil(4);
    let mut i = tid;
    while i < rows * vecs {
        let (r, v) = (i / vecs, i % vecs);
        let mut sum = [0.0f32; 4];
        for s in 0..splits {
            let x = unsafe { copy::ld_cg_v4((partial(s, r) + (v * 16) as u64) as *const u8) };
            unroll!(4, e, {
                sum[e] += f32::from_bits(x[e]);
            });
        }
        unsafe { epilogue::stage_vec(smem, r, 4 * v, &sum) };
        i += TILE_M;
    }
    // `emit` starts with a block barrier, which orders these stores before its reads.
    Some(true)
}

/// Tells every home GPU of a finished GEMM1 tile how many of its rows landed: one release add per
/// segment after a fence (a shared tile's rows are all this GPU's: one add to its own word). On
/// one GPU at GPU scope: the system-scope fence waits for the tile's stores to be acknowledged
/// system-wide, on the path of the block's next task. `PUTS` (the 128-thread engines of the
/// NVSHMEM build): a home reached by puts, whose rows went there first, gets an NVSHMEM signal
/// add instead. The warp-specialized consumers cannot call NVSHMEM (their register allocation
/// fails, C7600), so a layer with put peers never runs on that engine.
#[inline(always)]
unsafe fn report_returned_rows<const PUTS: bool>(p: &MoeParams, t: &Tile, shared: bool) {
    let one_gpu = p.world == 1;
    if one_gpu {
        sync::fence_acq_rel_gpu();
    } else {
        sync::fence_acq_rel_sys();
    }
    for s in 0..t.segments as usize {
        let (pair, rows) = if t.segments == 1 { (t.pair, t.rows) } else { (t.word(PAIR + s), t.word(SEG_ROWS + s)) };
        // Every segment holding a row was checked in `locate`; one past the rows is ignored.
        if pair >= p.world * p.local_experts {
            continue;
        }
        let home_rank = if shared { p.rank } else { pair / p.local_experts };
        let home = p.heaps[home_rank as usize];
        #[cfg(feature = "nvshmem")]
        if PUTS && p.puts_to(home_rank) {
            let word = (home + p.heap.control + offset_of!(Control, returned_put) as u64) as *mut u64;
            unsafe { crate::nvshmem::signal_add(p, home_rank, word, rows as u64) };
            continue;
        }
        let word = (home + p.heap.control + offset_of!(Control, returned_rows) as u64) as *mut u32;
        unsafe {
            if one_gpu {
                sync::red_add_release_gpu_u32(word, rows);
            } else {
                sync::red_add_release_sys_u32(word, rows);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tasks of the warp-specialized engine (`os::ws`): 128x256 tiles (`MoeParams::tile_n`) shared by
// two consumer groups, whose producer fills the row tables and streams the operands. Routed
// experts only: a layer with a shared expert does not build on that engine yet.
// ---------------------------------------------------------------------------------------------

/// Ends a task's set-up: a barrier of group `g` that also learns whether any thread found an
/// out-of-range value (`bad`: fault kind, value, bound), which it leaves in the block's mailbox.
/// True: the task must stop.
#[inline(always)]
#[cfg(target_feature = "sm_90a")]
unsafe fn any_fault_in(smem: u32, g: &Group, bad: Option<(u32, u64, u64)>, tile: u32) -> bool {
    if let Some((kind, value, bound)) = bad {
        unsafe { fault::defer(smem, ErrorCode::Fault as u32, kind, tile, value, bound) };
    }
    g.sync_or(bad.is_some())
}

/// What a GEMM task computes once its row tables are set: its row tile, K, and the output
/// columns (the B tile comes by TMA, see [`weight_boxes`]).
#[cfg(target_feature = "sm_90a")]
pub struct Plan {
    pub tile: Tile,
    pub k_bytes: u32,
    /// First output column (of the intermediate for GEMM0, of the hidden size for GEMM1).
    pub col0: u32,
    /// Output columns that exist (the rest of the tile is never stored).
    pub cols: u32,
}

/// Fills the row tables of a task, thread `g.tid()` row `g.tid()`: `a_rows` (the A operand: this
/// GPU's tokens read in place, peers' rows from the dispatch region; GEMM1: staging) and
/// `out_rows` (GEMM0: staging; GEMM1: the token's combine slot on its home GPU, at the tile's
/// column). False (on every thread of `g`) when a value was out of range: the fault is in the
/// block's mailbox and nothing was written with it. Ends with a barrier of `g`.
///
/// # Safety
/// Every thread of `g`, for a published GEMM task.
#[inline(always)]
#[cfg(target_feature = "sm_90a")]
pub unsafe fn rows<E: Element>(p: &MoeParams, smem: u32, g: &Group, task: &Task, a_rows: u32, out_rows: u32) -> bool {
    let t = Tile::of(p, task);
    let (row_bytes, inter_bytes) = ((p.hidden * E::BYTES) as u64, (p.inter * E::BYTES) as u64);
    let heap = p.heaps[p.rank as usize];
    let gemm1 = task.kind == TaskKind::Gemm1 as u32;
    let gated = p.gated();
    let col0 = task.n_tile * if gemm1 { p.tile_n() } else { gemm0_tile_cols(gated, p.tile_n()) };
    let column = col0 as u64 * E::BYTES as u64;
    let tid = g.tid();
    let mut bad = None;
    if tid < t.rows {
        match t.locate(p, tid) {
            Some((pair, slot)) => {
                let at = pair as u64 * p.slot_stride as u64 + slot as u64;
                let staging = p.workspace + p.ws.staging + at * inter_bytes;
                if gemm1 {
                    let m = unsafe { sync::ld_relaxed_gpu_u32((heap + p.heap.dispatch_meta + at * 4) as *const u32) };
                    match meta_parts(p, m) {
                        Ok((token, j)) => {
                            let home = p.heaps[(pair / p.local_experts) as usize];
                            let slot_row = token as u64 * p.combine_stride() as u64 + j as u64;
                            unsafe {
                                set_row(a_rows, tid, staging);
                                set_row(out_rows, tid, home + p.heap.combine_slots + slot_row * row_bytes + column);
                            }
                        }
                        Err(f) => bad = Some(f),
                    }
                } else {
                    let a = unsafe { gemm0_a_row(p, pair, at, row_bytes) }.unwrap_or_else(|f| {
                        bad = Some(f);
                        p.x
                    });
                    unsafe {
                        set_row(a_rows, tid, a);
                        set_row(out_rows, tid, staging + column);
                    }
                }
            }
            None => bad = Some((FaultKind::Segment as u32, tid as u64, t.rows as u64)),
        }
    }
    !unsafe { any_fault_in(smem, g, bad, task.tile) }
}

/// A GEMM task's row tile, K and output columns (from the task alone).
#[inline(always)]
#[cfg(target_feature = "sm_90a")]
pub fn plan<E: Element>(p: &MoeParams, task: &Task) -> Plan {
    let tile = Tile::of(p, task);
    let tile_n = p.tile_n();
    if task.kind == TaskKind::Gemm1 as u32 {
        let col0 = task.n_tile * tile_n;
        return Plan { tile, k_bytes: p.inter * E::BYTES, col0, cols: (p.hidden - col0).min(tile_n) };
    }
    let col0 = task.n_tile * gemm0_tile_cols(p.gated(), tile_n);
    Plan { tile, k_bytes: p.hidden * E::BYTES, col0, cols: (p.inter - col0).min(gemm0_tile_cols(p.gated(), tile_n)) }
}

/// The B tile of a wide GEMM task by TMA from the weights' maps (`MoeParams::w_maps`: w1, w3,
/// w2): one 256-row box, or W1's and W3's 128 rows when gated.
#[inline(always)]
#[cfg(target_feature = "sm_90a")]
pub fn weight_boxes(p: &MoeParams, task: &Task, plan: &Plan) -> TmaB {
    let local = plan.tile.local_expert;
    if task.kind == TaskKind::Gemm1 as u32 {
        let w2 = p.w_maps + 256;
        return TmaB { maps: [w2, w2], row0: local * p.hidden + plan.col0, gated: false };
    }
    TmaB { maps: [p.w_maps, p.w_maps + 128], row0: local * p.inter + plan.col0, gated: p.gated() }
}

/// A task's A operand by one TMA box per K slice (map, first row), or None when it is gathered
/// ([`a_box_row`]). Rows past the tile's read other slots' rows or zeros past the region; their
/// outputs are never stored.
#[inline(always)]
#[cfg(target_feature = "sm_90a")]
pub fn a_box(p: &MoeParams, task: &Task, plan: &Plan) -> Option<(u64, u32)> {
    a_box_row(p, task, plan.tile.segments).map(|(map, row)| (p.w_maps + map, row))
}

/// The word counting the K slices of a row tile's rows stored into the dispatch region by its
/// first GEMM0 task (`ws_counters::STORED_SLICES`).
#[inline(always)]
#[cfg(target_feature = "sm_90a")]
pub fn stored_slices_word(p: &MoeParams, tile: u32) -> *mut u32 {
    ((p.workspace + p.ws.gemm0_done) as *mut u32).wrapping_add((tile * GEMM0_COUNTERS + ws_counters::STORED_SLICES) as usize)
}

/// How many K slices of a task's A may come by its [`a_box`]: all of them, but for a task that
/// reads a streamed row tile ([`RowStream::Reads`]), the slices its first task has stored so far
/// (acquired: the caller fences for the async proxy before its TMA loads); the rest is gathered.
///
/// # Safety
/// A published GEMM task.
#[inline(always)]
#[cfg(target_feature = "sm_90a")]
pub unsafe fn boxed_slices(p: &MoeParams, task: &Task) -> u32 {
    match row_stream(p, task) {
        RowStream::Reads => unsafe { sync::ld_acquire_gpu_u32(stored_slices_word(p, task.tile)) },
        _ => u32::MAX,
    }
}

/// The first dispatch row of a task's row tile when the task is the tile's first GEMM0 task and
/// the layer streams the tile ([`RowStream::Stores`]): each K slice of its A is stored there
/// from its stage as it lands (`gemm::mainloop::store_streamed_slice`); else `NONE`.
#[inline(always)]
#[cfg(target_feature = "sm_90a")]
pub fn stored_row(p: &MoeParams, task: &Task) -> u32 {
    match row_stream(p, task) {
        RowStream::Stores => region_row(p, task),
        _ => NONE,
    }
}

/// The output values of columns `c..c + 8` of a task (`c` a multiple of 8; `x`: their
/// accumulators, in place; `g`: a gated GEMM0's W3 partners): bias, activation and gating for
/// GEMM0, bias for GEMM1. The warp-specialized epilogue applies it per 16-byte output vector,
/// each bias read as one vector. (Branching on the activation's kind once per vector, not per
/// element, unrolled three activations per vector and spilled: 144 -> 336 bytes in the ws
/// entries.)
#[inline(always)]
#[cfg(target_feature = "sm_90a")]
pub fn output<E: Element>(p: &MoeParams, task: &Task, plan: &Plan) -> impl Fn(u32, &mut [f32; 8], u32) {
    let local = plan.tile.local_expert;
    let gemm1 = task.kind == TaskKind::Gemm1 as u32;
    let (gated, bias, act, col0) = (p.gated() && !gemm1, p.has_bias(), activation::Act::of(p), plan.col0);
    let (b_first, b_gate) = if gemm1 {
        ((p.b2 + ((local * p.hidden) * E::BYTES) as u64) as *const u8, core::ptr::null())
    } else {
        ((p.b1 + (local * p.inter * E::BYTES) as u64) as *const u8, (p.b3 + (local * p.inter * E::BYTES) as u64) as *const u8)
    };
    move |c: u32, x: &mut [f32; 8], g: u32| {
        if bias {
            unsafe { add_bias::<E>(b_first, col0 + c, x) };
        }
        if gemm1 {
            return;
        }
        // `activate`'s steps written out: the call form made ptxas spill 312 bytes in the ws
        // entries (144 like this).
        act.apply8(x);
        if gated {
            let mut u = unsafe { epilogue::staged_vec::<E>(g) };
            if bias {
                unsafe { add_bias::<E>(b_gate, col0 + c, &mut u) };
            }
            unroll!(8, i, { x[i] *= act.up(u[i]) });
        }
    }
}

/// Adds columns `col..col + PER_VEC` of the bias row at `b` to `x`: one 16-byte load (bias rows
/// are read-only inputs, 16-byte aligned since dimensions are multiples of 64).
///
/// # Safety
/// `b` holds those columns.
#[inline(always)]
unsafe fn add_bias<E: Element>(b: *const u8, col: u32, x: &mut [f32; 8]) {
    let mut v = [0.0f32; 8];
    E::unpack(unsafe { copy::ld_nc_v4(b.wrapping_add((col * E::BYTES) as usize)) }, &mut v);
    unroll!(8, i, { x[i] += v[i] });
}

/// GEMM0's activation over a vector (biases added): x = act(x), times up(g + W3's bias at
/// columns `col..`) when gated.
///
/// # Safety
/// With `bias` and `gated`, `b_gate` holds those columns.
#[inline(always)]
unsafe fn activate<E: Element>(act: activation::Act, gated: bool, bias: bool, b_gate: *const u8, col: u32, x: &mut [f32; 8], g: &[f32; 8]) {
    act.apply8(x);
    if gated {
        let mut u = *g;
        if bias {
            unsafe { add_bias::<E>(b_gate, col, &mut u) };
        }
        unroll!(8, i, { x[i] *= act.up(u[i]) });
    }
}

/// After a task's rows are stored (a barrier of `g` since): GEMM0 counts the tile's finished
/// column tiles, and the group finishing the last publishes the tile's GEMM1 tasks; with
/// `MoeParams::gemm1_runs`, the group finishing the last tile of the tile's run
/// (`TileDesc::run_tiles`) publishes the run's, n-major (column tile n of every tile of the
/// run, then n + 1) like its GEMM0 tasks: the tasks that stream one panel of W2 are claimed
/// together, so it is read from DRAM once for the run rather than once per tile. GEMM1 tells
/// every home GPU how many of its rows landed. False (on every thread of `g`) when the queue
/// was full: the fault is in the mailbox.
///
/// # Safety
/// Every thread of `g`, once per task.
#[inline(always)]
#[cfg(target_feature = "sm_90a")]
pub unsafe fn finish(p: &MoeParams, smem: u32, g: &Group, q: &Queue, task: &Task, tile: &Tile) -> bool {
    let tid = g.tid();
    if task.kind == TaskKind::Gemm1 as u32 {
        if tid == 0 {
            unsafe { report_returned_rows::<false>(p, tile, false) };
        }
        return true;
    }
    let n1 = gemm1_tiles(p.hidden, p.tile_n());
    if tid == 0 {
        // One K split (this engine's GEMM1 tasks are whole): the tile's first counter counts its
        // finished GEMM0 column tiles, and the second of a run's first tile its finished tiles.
        let done = (p.workspace + p.ws.gemm0_done) as *mut u32;
        sync::fence_acq_rel_gpu();
        let last =
            unsafe { sync::atom_add_acq_rel_gpu_u32(done.add((task.tile * GEMM0_COUNTERS + ws_counters::COLUMNS_DONE) as usize), 1) }
                == gemm0_tiles(p.inter, p.gated(), p.tile_n()) * p.task_parts() - 1;
        let (mut first_tile, mut tiles) = (task.tile, last as u32);
        if last && p.gemm1_runs() {
            let (run_first, run_tiles) = (tile.word(RUN_FIRST), tile.word(RUN_TILES));
            // A run out of bounds (never written so) is published tile by tile: no counter or
            // task id is formed from it. (A fault here made the ws entries spill 180 bytes.)
            if run_tiles > 1 && run_in_bounds(p, task.tile, run_first, run_tiles) {
                let run_done = unsafe { done.add((run_first * GEMM0_COUNTERS + ws_counters::RUN_TILES_DONE) as usize) };
                let finished = unsafe { sync::atom_add_acq_rel_gpu_u32(run_done, 1) } + 1;
                (first_tile, tiles) = (run_first, if finished == run_tiles { run_tiles } else { 0 });
            }
        }
        let first = if tiles > 0 { unsafe { q.reserve(tiles * n1) } } else { 0 };
        // A run's last tile may be partial (one GPU): its rows from its descriptor.
        let last_rows =
            if tiles > 1 { unsafe { sync::ld_relaxed_gpu_u32(Tile::words_of(p, first_tile + tiles - 1).add(ROWS)) } } else { TILE_M };
        unsafe {
            copy::st_shared_u32(g.words, tiles);
            copy::st_shared_u32(g.words + 4, first);
            copy::st_shared_u32(g.words + 8, first_tile);
            copy::st_shared_u32(g.words + 12, last_rows);
        }
    }
    g.sync();
    let (tiles, first, first_tile, last_rows) = unsafe {
        (
            copy::ld_shared_u32(g.words),
            copy::ld_shared_u32(g.words + 4),
            copy::ld_shared_u32(g.words + 8),
            copy::ld_shared_u32(g.words + 12),
        )
    };
    let mut full = None;
    let mut j = tid;
    while j < tiles * n1 {
        if !unsafe { q.publish(first + j, &run_gemm1_task(task, first_tile, tiles, last_rows, j)) } {
            full = Some((FaultKind::QueueFull as u32, (first + j) as u64, q.capacity() as u64));
        }
        j += TILE_M;
    }
    if unsafe { any_fault_in(smem, g, full, task.tile) } {
        return false;
    }
    if tiles > 0 && tid == 0 {
        unsafe { sync::red_add_release_gpu_u32(&raw mut (*fault::control(p)).gemm1_rows_published, tiles) };
    }
    true
}
