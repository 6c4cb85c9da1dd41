//! Protocol words: how the roles talk through memory. Task, wait, fault and error kinds; the
//! packed flag, meta and tile-info words with their packers and unpackers; and the checks a
//! value must pass before it becomes an address.

use super::abi::{MoeParams, STAGING_MAP_ROWS, TILE_M, Task};
use super::regions::{row_tiles, shared_row_tiles};

/// `route_slot` value of a token-expert pair dropped by capacity.
pub const DROPPED: u32 = u32::MAX;
/// Marker for "not applicable" in an [`ErrorRecord`](super::ErrorRecord).
pub const NONE: u32 = u32::MAX;

/// Kinds of [`Task`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    /// act(rows · W1ᵀ) for one output tile of one row tile ([`super::TileDesc`]).
    Gemm0 = 1,
    /// staging · W2ᵀ for one output tile, written to the tokens' home slots.
    Gemm1 = 2,
    /// Weighted sum of the k slots of [`super::COMBINE_TOKENS`] tokens.
    Combine = 3,
    /// No more work: the processor returns.
    Exit = 4,
}

impl Task {
    /// Whether the task multiplies (GEMM0 or GEMM1), rather than combining or ending the launch.
    #[inline(always)]
    pub const fn is_gemm(&self) -> bool {
        self.kind == TaskKind::Gemm0 as u32 || self.kind == TaskKind::Gemm1 as u32
    }
}

impl TaskKind {
    /// Decodes [`Task::kind`].
    #[inline(always)]
    pub const fn from_u32(v: u32) -> Option<TaskKind> {
        match v {
            1 => Some(TaskKind::Gemm0),
            2 => Some(TaskKind::Gemm1),
            3 => Some(TaskKind::Combine),
            4 => Some(TaskKind::Exit),
            _ => None,
        }
    }
}

/// What a timed-out wait was waiting for ([`super::ErrorRecord::what`] of a timeout).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitKind {
    GridBarrier = 1,
    DispatchFlag = 2,
    /// Expert outputs for this GPU's tokens (the returned-rows counter).
    ReturnedRows = 3,
    TaskSlot = 4,
    Termination = 5,
    /// A stage or task slot of a warp-specialized block's pipeline (producer <-> consumers).
    Pipeline = 6,
}

impl WaitKind {
    pub const fn from_u32(v: u32) -> Option<WaitKind> {
        match v {
            1 => Some(WaitKind::GridBarrier),
            2 => Some(WaitKind::DispatchFlag),
            3 => Some(WaitKind::ReturnedRows),
            4 => Some(WaitKind::TaskSlot),
            5 => Some(WaitKind::Termination),
            6 => Some(WaitKind::Pipeline),
            _ => None,
        }
    }

    /// What was awaited, in words.
    pub const fn describe(self) -> &'static str {
        match self {
            WaitKind::GridBarrier => "the grid barrier after the gate",
            WaitKind::DispatchFlag => "a dispatch flag (routed rows from a peer)",
            WaitKind::ReturnedRows => "expert outputs for this GPU's tokens (returned rows)",
            WaitKind::TaskSlot => "a task in the processor queue",
            WaitKind::Termination => "termination (all tasks published)",
            WaitKind::Pipeline => "a pipeline stage or task slot between a block's producer and consumer warpgroups",
        }
    }
}

/// A value that crossed blocks or GPUs and failed its bounds check ([`super::ErrorRecord::what`]
/// of a [`ErrorCode::Fault`]). The kernel never uses such a value for an access.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A dispatch flag's row count above the capacity (peer = source GPU).
    FlagCount = 1,
    /// A later dispatch flag of a pair whose count differs from its tile-0 flag.
    FlagMismatch = 2,
    /// A row tile id past the tiles this launch can form.
    TileId = 3,
    /// A task slot past the end of the queue.
    QueueFull = 4,
    /// A task of unknown kind, or a GEMM task's row tile id out of range.
    Task = 5,
    /// A row tile segment out of range (pair, slot + rows above the capacity).
    Segment = 6,
    /// A dispatch-meta word whose token or top-k rank is out of range.
    Meta = 7,
    /// More expert-output rows returned than this GPU's tokens sent.
    ReturnedRows = 8,
    /// A token whose gate logits are not finite (NaN or infinity in its input); `tile` = token.
    NonFiniteInput = 9,
    /// A K-split GEMM1 partial slot past the partial region (value = last slot, bound = slots).
    PartialSlot = 10,
}

impl FaultKind {
    pub const fn from_u32(v: u32) -> Option<FaultKind> {
        match v {
            1 => Some(FaultKind::FlagCount),
            2 => Some(FaultKind::FlagMismatch),
            3 => Some(FaultKind::TileId),
            4 => Some(FaultKind::QueueFull),
            5 => Some(FaultKind::Task),
            6 => Some(FaultKind::Segment),
            7 => Some(FaultKind::Meta),
            8 => Some(FaultKind::ReturnedRows),
            9 => Some(FaultKind::NonFiniteInput),
            10 => Some(FaultKind::PartialSlot),
            _ => None,
        }
    }

    /// What broke, in words.
    pub const fn describe(self) -> &'static str {
        match self {
            FaultKind::FlagCount => "a dispatch flag from the peer announced more rows than the capacity",
            FaultKind::FlagMismatch => "a later dispatch flag disagreed with its pair's tile-0 row count",
            FaultKind::TileId => "a row tile id ran past the tiles this launch can form",
            FaultKind::QueueFull => "a task slot ran past the end of the queue",
            FaultKind::Task => "a task of unknown kind or with a row tile id out of range (value = kind << 32 | tile info)",
            FaultKind::Segment => "a row tile segment was out of range (value = row, bound = rows)",
            FaultKind::Meta => "a dispatch-meta word named a token or top-k rank out of range (bound = tokens)",
            FaultKind::ReturnedRows => "more expert-output rows came back than this GPU's tokens sent",
            FaultKind::NonFiniteInput => "a token's input holds NaN or infinity",
            FaultKind::PartialSlot => "a K-split GEMM1 partial slot or count ran past its region",
        }
    }
}

/// [`super::ErrorRecord::code`]: zero means success.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    None = 0,
    Timeout = 1,
    Fault = 2,
    /// This GPU stopped because another GPU of the layer failed the launch (its abort word was
    /// set by that GPU or by the host); `peer` names the GPU that set it, NONE for the host. In
    /// one process the failing GPU's own record says why; in one process per GPU this is all
    /// the other ranks learn, and it must not read as success.
    PeerAborted = 3,
}

/// Whether the rows `[slot, slot + rows)` of `pair` lie inside this launch's regions and belong
/// to `local_expert` (segments of row tiles are made by other blocks: checked before use).
#[inline(always)]
pub const fn segment_in_bounds(p: &MoeParams, local_expert: u32, pair: u32, slot: u32, rows: u32) -> bool {
    pair < p.world * p.local_experts && pair % p.local_experts == local_expert && slot as u64 + rows as u64 <= p.capacity as u64
}

/// Whether a claimed task's kind is known and a GEMM task's row tile id is one this launch
/// prepared (its GEMM0 counter is written by index). The other fields of a task stamped with the
/// current epoch were derived by its producer from checked values (a pair's row count, tile ids
/// at creation); a merged tile's segments ([`segment_in_bounds`]) and the meta words of its rows
/// are checked where they are used.
#[inline(always)]
pub const fn task_in_bounds(p: &MoeParams, t: &Task) -> bool {
    match TaskKind::from_u32(t.kind) {
        Some(TaskKind::Gemm0 | TaskKind::Gemm1) => t.tile < task_tiles(p),
        Some(TaskKind::Combine | TaskKind::Exit) => true,
        None => false,
    }
}

/// Row tiles one launch can form on one GPU: every pair's kept rows in whole tiles (merging
/// partial tiles only lowers the count). Ids past it were not prepared by the launch.
#[inline(always)]
pub const fn launch_tiles(p: &MoeParams) -> u32 {
    p.world * p.local_experts * row_tiles(p.capacity)
}

/// Row tiles of the shared expert in this launch (0 without one): ids `launch_tiles(p) + s`,
/// tile s holding this GPU's tokens `128 s ..` (read in place from the input).
#[inline(always)]
pub const fn shared_tiles(p: &MoeParams) -> u32 {
    shared_row_tiles(p.shared_inter, p.tokens)
}

/// Row tiles whose GEMM tasks a launch can run (and whose GEMM0 counters it clears): the
/// experts' ([`launch_tiles`]), then the shared expert's ([`shared_tiles`]).
#[inline(always)]
pub const fn task_tiles(p: &MoeParams) -> u32 {
    launch_tiles(p) + shared_tiles(p)
}

/// GEMM0 task `i` of the shared expert's row tiles (`i < shared_tiles(p) · gemm0_tiles(Is,
/// gated)`, tile by tile): tile s = i / n0 (id `launch_tiles(p) + s`) holds this GPU's tokens
/// `128 s ..` (the task's slot; its rows in the info, local expert 0, one segment), output
/// column tile i % n0.
#[inline(always)]
pub const fn shared_gemm0_task(p: &MoeParams, i: u32) -> Task {
    let n0 = super::regions::gemm0_tiles(p.shared_inter, true, super::TILE_N);
    let s = i / n0;
    let rows = p.tokens - s * TILE_M;
    Task {
        stamp: 0,
        kind: TaskKind::Gemm0 as u32,
        tile: launch_tiles(p) + s,
        n_tile: i % n0,
        info: tile_info(0, 1, if rows < TILE_M { rows } else { TILE_M }),
        pair: 0,
        slot: s * TILE_M,
        _pad: 0,
    }
}

/// GEMM1 task `j` of a run of `tiles` row tiles from id `first_tile` (`TileDesc::run_tiles`;
/// `j < tiles · column tiles`), n-major: column tile j / tiles of tile `first_tile + j % tiles`.
/// `task` is a GEMM0 task of any tile of the run: the run's tiles are one-segment tiles of one
/// pair with consecutive ids and slots, full but the last, which has `last_rows` rows (a
/// partial last tile ends a run on one GPU), so the others differ from it in tile id, slot and
/// rows only.
#[inline(always)]
pub const fn run_gemm1_task(task: &Task, first_tile: u32, tiles: u32, last_rows: u32, j: u32) -> Task {
    let tile = first_tile + j % tiles;
    let slot = task.slot.wrapping_add(tile.wrapping_sub(task.tile).wrapping_mul(TILE_M));
    let info = if tiles == 1 {
        task.info
    } else {
        let (local_expert, _, _) = tile_info_parts(task.info);
        tile_info(local_expert, 1, if j % tiles == tiles - 1 && last_rows < TILE_M { last_rows } else { TILE_M })
    };
    Task { kind: TaskKind::Gemm1 as u32, tile, slot, n_tile: j / tiles, info, ..*task }
}

/// Whether two tasks are GEMM tasks that read one weight panel: the same kind, local expert and
/// output column tile (so the same K as well). Two blocks of a cluster running such a pair could
/// load each B stage once for both (TMA multicast; perf log v42).
pub const fn shares_weight_panel(a: &Task, b: &Task) -> bool {
    a.is_gemm() && a.kind == b.kind && a.n_tile == b.n_tile && tile_info_parts(a.info).0 == tile_info_parts(b.info).0
}

/// Of a queue's slot pairs (2i, 2i + 1) whose first slot holds a GEMM task (`tasks` in slot
/// order): per kind (GEMM0, GEMM1), how many there are and how many read one weight panel
/// ([`shares_weight_panel`]). What pairing consecutive claims could multicast.
pub fn slot_pairs_sharing_panels(tasks: &[Task]) -> [(u32, u32); 2] {
    let mut counts = [(0, 0); 2];
    for pair in tasks.chunks_exact(2) {
        if pair[0].is_gemm() {
            let c = &mut counts[(pair[0].kind - TaskKind::Gemm0 as u32) as usize];
            c.0 += 1;
            c.1 += shares_weight_panel(&pair[0], &pair[1]) as u32;
        }
    }
    counts
}

/// Region maps a task's A can come from by one TMA box per K slice, as byte offsets into
/// `MoeParams::w_maps` (128 bytes a map).
pub mod a_maps {
    /// Map 3, the staging region: GEMM1's A (GEMM0's output rows).
    pub const STAGING: u64 = 3 * 128;
    /// Map 4, this GPU's dispatch rows: GEMM0's A where the dispatch copied the rows or GEMM0
    /// streamed them ([`super::RowStream`]).
    pub const DISPATCH_ROWS: u64 = 4 * 128;
}

/// Where a GEMM task's A (GEMM0 or GEMM1) comes from as one TMA box per K slice: (map of
/// [`a_maps`], first row), when its row tile (of `segments` segments) is one segment
/// of rows laid out consecutively, a row per (pair, slot) at `pair · slot_stride + slot`: GEMM1's
/// staging rows, or GEMM0's rows in the dispatch region: copied there by the dispatch (a peer's,
/// or this GPU's with [`MoeParams::copy_local`]), or streamed there by the tile's first GEMM0
/// task ([`row_stream`]: then only the slices stored so far). None: A is gathered row by row
/// (cp.async), also when the region's rows are outside what a map of s32 row coordinates and
/// whole boxes covers.
#[inline(always)]
pub const fn a_box_row(p: &MoeParams, task: &Task, segments: u32) -> Option<(u64, u32)> {
    let map = if task.kind == TaskKind::Gemm1 as u32 {
        a_maps::STAGING
    } else if task.pair / p.local_experts != p.rank || p.copy_local() || matches!(row_stream(p, task), RowStream::Reads) {
        a_maps::DISPATCH_ROWS
    } else {
        return None;
    };
    if segments == 1 && region_maps_fit(p) { Some((map, region_row(p, task))) } else { None }
}

/// The row of a task's first (pair, slot) in the region maps (a row per (pair, slot)).
#[inline(always)]
pub const fn region_row(p: &MoeParams, task: &Task) -> u32 {
    task.pair * p.slot_stride + task.slot
}

/// Whether the region maps (a row per (pair, slot)) can be used: TMA row coordinates are s32,
/// and a box of TILE_M rows over fewer may not encode (the host encodes such maps with clamped
/// rows, and nothing reads or writes through them).
#[inline(always)]
pub const fn region_maps_fit(p: &MoeParams) -> bool {
    let region = (p.world * p.local_experts) as u64 * p.slot_stride as u64;
    region >= TILE_M as u64 && region <= STAGING_MAP_ROWS as u64
}

/// A GEMM0 task's part in streaming its row tile into the dispatch region
/// ([`MoeParams::stream_rows`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowStream {
    /// Not streamed: the rows are gathered, or were copied by the dispatch.
    None,
    /// The tile's first task (column tile 0): gathers A and stores every K slice of it.
    Stores,
    /// A later task of the tile: reads the slices stored when it starts by TMA, gathers the rest.
    Reads,
}

/// [`RowStream`] of a task: GEMM0 over a full row tile of one segment of this GPU's own rows
/// (from the task's tile info), when the layer streams them. A partial tile is not streamed (its
/// box would store past its rows into other slots).
#[inline(always)]
pub const fn row_stream(p: &MoeParams, task: &Task) -> RowStream {
    let (_, segments, rows) = tile_info_parts(task.info);
    let own = task.pair / p.local_experts == p.rank;
    if !p.stream_rows() || task.kind != TaskKind::Gemm0 as u32 || !own || segments != 1 || rows != TILE_M || !region_maps_fit(p) {
        RowStream::None
    } else if task.n_tile == 0 {
        RowStream::Stores
    } else {
        RowStream::Reads
    }
}

/// Whether row tile `tile`'s run (`TileDesc::run_first`, `run_tiles`, written by a subscriber)
/// holds the tile and lies within the tiles this launch can form: the run's first tile's counter
/// and its GEMM1 task ids come from it.
#[inline(always)]
pub const fn run_in_bounds(p: &MoeParams, tile: u32, run_first: u32, run_tiles: u32) -> bool {
    let end = run_first as u64 + run_tiles as u64;
    run_first <= tile && (tile as u64) < end && end <= launch_tiles(p) as u64
}

/// Packs a row tile's local expert (< 256), segment count (<= 8) and rows (<= 128).
#[inline(always)]
pub const fn tile_info(local_expert: u32, segments: u32, rows: u32) -> u32 {
    local_expert | (segments << 8) | (rows << 16)
}

/// Unpacks [`tile_info`]: (local expert, segments, rows).
#[inline(always)]
pub const fn tile_info_parts(info: u32) -> (u32, u32, u32) {
    (info & 0xff, (info >> 8) & 0xff, info >> 16)
}

/// A flag word: the launch epoch in the high half, a count in the low half.
#[inline(always)]
pub const fn flag_word(epoch: u32, count: u32) -> u64 {
    ((epoch as u64) << 32) | count as u64
}

/// Epoch of a flag word.
#[inline(always)]
pub const fn flag_epoch(word: u64) -> u32 {
    (word >> 32) as u32
}

/// Count of a flag word.
#[inline(always)]
pub const fn flag_count(word: u64) -> u32 {
    word as u32
}

/// Packs a dispatch-meta word: home token index (< 2^24) and the expert's rank j in its top-k.
#[inline(always)]
pub const fn meta_word(token: u32, j: u32) -> u32 {
    token | (j << 24)
}

/// Unpacks [`meta_word`].
#[inline(always)]
pub const fn meta_token(word: u32) -> u32 {
    word & 0x00ff_ffff
}

/// Unpacks [`meta_word`].
#[inline(always)]
pub const fn meta_j(word: u32) -> u32 {
    word >> 24
}

/// The expert handled by dispatch unit `u` of GPU `rank`: each GPU starts with its own experts
/// (no copy, quick) and the GPUs' orders are rotated, spreading the load over the links.
#[inline(always)]
pub const fn dispatch_expert(u: u32, parts: u32, rank: u32, local_experts: u32, experts: u32) -> u32 {
    (rank * local_experts + u / parts) % experts
}

/// Whether some slot of `[lo, hi)` (non-empty) lies in a row tile `≡ q (mod parts)`: does dispatch
/// part q own any of these slots.
#[inline(always)]
pub const fn part_owns_any(lo: u32, hi: u32, q: u32, parts: u32) -> bool {
    let (first, last) = (lo / TILE_M, (hi - 1) / TILE_M);
    last - first + 1 >= parts || (q + parts - first % parts) % parts <= last - first
}

/// Tasks in the first run a queue publisher writes behind one fence ([`publish_run_end`]).
pub const FIRST_PUBLISH_RUN: u32 = 8;
/// The longest run behind one fence.
pub const MAX_PUBLISH_RUN: u32 = 64;

/// The end of the run of tasks that starts at `j0` of `n`: runs double from
/// [`FIRST_PUBLISH_RUN`] up to [`MAX_PUBLISH_RUN`] (8, 8, 16, 32, 64, 64, ...). A fence per run
/// is what publishing costs one thread (~1 us each): fixed runs of 8 made the 224 GEMM0 tasks of
/// a Mixtral-size expert 28 fences, and the last processor's first task waited ~60 us after
/// dispatch (perf log v14); doubling runs keep the first tasks as early and make it 6.
pub const fn publish_run_end(j0: u32, n: u32) -> u32 {
    let len = if j0 < FIRST_PUBLISH_RUN {
        FIRST_PUBLISH_RUN
    } else if j0 > MAX_PUBLISH_RUN {
        MAX_PUBLISH_RUN
    } else {
        j0
    };
    let end = j0.saturating_add(len);
    if end < n { end } else { n }
}

#[cfg(test)]
mod tests {
    use super::super::abi::MoeParams;
    use super::*;

    /// Slot pairs count by their first task's kind; a pair shares a panel only with one kind,
    /// expert and column tile; an odd last slot and non-GEMM pairs are not counted.
    #[test]
    fn slot_pairs_sharing_panels_counts_matching_pairs() {
        let task = |kind: TaskKind, expert: u32, n_tile: u32, tile: u32| Task {
            kind: kind as u32,
            tile,
            n_tile,
            info: tile_info(expert, 1, TILE_M),
            ..Task::default()
        };
        let tasks = [
            task(TaskKind::Gemm0, 3, 0, 0),
            task(TaskKind::Gemm0, 3, 0, 1), // shares: same expert and column tile
            task(TaskKind::Gemm0, 3, 0, 2),
            task(TaskKind::Gemm0, 3, 1, 2), // next column tile
            task(TaskKind::Gemm0, 3, 1, 3),
            task(TaskKind::Gemm0, 4, 1, 4), // another expert
            task(TaskKind::Gemm1, 3, 1, 4),
            task(TaskKind::Gemm1, 3, 1, 5), // shares
            task(TaskKind::Gemm1, 3, 2, 6),
            task(TaskKind::Gemm0, 3, 2, 7), // another kind
            task(TaskKind::Combine, 0, 0, 0),
            task(TaskKind::Combine, 0, 0, 1), // not a GEMM pair
            task(TaskKind::Gemm0, 3, 0, 9),   // odd last slot
        ];
        assert_eq!(slot_pairs_sharing_panels(&tasks), [(3, 1), (2, 1)]);
        assert!(!shares_weight_panel(&tasks[10], &tasks[11]));
    }

    /// A run's GEMM1 tasks: every (tile, column tile) once, n-major, each with its own slot
    /// (consecutive tiles of one pair) and rows (full but a partial last tile), whichever tile
    /// of the run finished last.
    #[test]
    fn a_runs_gemm1_tasks_are_every_tile_and_column_n_major() {
        let (first_tile, tiles, n1, slot0) = (40u32, 5u32, 7u32, 1024u32);
        for last_rows in [TILE_M, 1, 77] {
            for last in first_tile..first_tile + tiles {
                let rows = |tile: u32| if tile == first_tile + tiles - 1 { last_rows } else { TILE_M };
                let gemm0 = Task {
                    stamp: 0,
                    kind: TaskKind::Gemm0 as u32,
                    tile: last,
                    n_tile: 3,
                    info: tile_info(2, 1, rows(last)),
                    pair: 9,
                    slot: slot0 + (last - first_tile) * TILE_M,
                    _pad: 0,
                };
                for j in 0..tiles * n1 {
                    let t = run_gemm1_task(&gemm0, first_tile, tiles, last_rows, j);
                    let (i, n) = (j % tiles, j / tiles);
                    assert_eq!((t.kind, t.tile, t.n_tile, t.slot), (TaskKind::Gemm1 as u32, first_tile + i, n, slot0 + i * TILE_M));
                    assert_eq!((t.info, t.pair), (tile_info(2, 1, rows(t.tile)), gemm0.pair));
                }
            }
        }
        // A tile alone (a merged partial tile: several segments) keeps its own info.
        let merged = Task { kind: TaskKind::Gemm0 as u32, tile: 7, info: tile_info(3, 4, 90), slot: 5, ..Task::default() };
        for j in 0..n1 {
            let t = run_gemm1_task(&merged, 7, 1, 0, j);
            assert_eq!((t.tile, t.n_tile, t.slot, t.info), (7, j, 5, merged.info));
        }
    }

    #[test]
    fn publish_runs_double_up_to_the_cap_and_cover_every_task() {
        // The run ends for n tasks (at most 20 runs here), and how many.
        let runs = |n: u32| {
            let (mut j0, mut ends, mut count) = (0, [0u32; 20], 0);
            while j0 < n {
                let end = publish_run_end(j0, n);
                assert!(end > j0 && end <= n && end - j0 <= MAX_PUBLISH_RUN);
                ends[count] = end;
                count += 1;
                j0 = end;
            }
            (ends, count)
        };
        let (ends, count) = runs(224);
        assert_eq!(ends[..count], [8, 16, 32, 64, 128, 192, 224]);
        assert_eq!(runs(5).0[..runs(5).1], [5]);
        assert_eq!(runs(16).0[..runs(16).1], [8, 16]);
        assert_eq!(runs(0).1, 0);
        // 8 + 8 + 16 + 32, then runs of 64.
        assert_eq!(runs(1000).1, 4 + (1000 - 64usize).div_ceil(64));
    }

    #[test]
    fn flag_words_round_trip() {
        let w = flag_word(7, 300);
        assert_eq!(flag_epoch(w), 7);
        assert_eq!(flag_count(w), 300);
        assert_eq!(flag_word(1, 0), 1 << 32);
        let m = meta_word(0x00ab_cdef, 7);
        assert_eq!((meta_token(m), meta_j(m)), (0x00ab_cdef, 7));
    }

    fn gemm_task(kind: TaskKind, pair: u32, segments: u32, rows: u32, n_tile: u32) -> Task {
        Task { stamp: 0, kind: kind as u32, tile: 3, n_tile, info: tile_info(pair % 4, segments, rows), pair, slot: 128, _pad: 0 }
    }

    /// GEMM1 always reads its one-segment tiles by a box; GEMM0 only rows the dispatch copied
    /// (a peer's, or its own with the copy switch or a scaling router) or streamed; merged
    /// tiles and regions a map cannot cover are gathered.
    #[test]
    fn a_comes_by_a_box_from_consecutive_rows_only() {
        let p = MoeParams { rank: 1, ..params() };
        let task = |kind, pair, segments| gemm_task(kind, pair, segments, 100, 0);
        // Pair 6 is (source 1 = this GPU, expert 2), pair 2 a peer's rows for expert 2.
        assert_eq!(a_box_row(&p, &task(TaskKind::Gemm1, 6, 1), 1), Some((a_maps::STAGING, 6 * 500 + 128)));
        assert_eq!(a_box_row(&p, &task(TaskKind::Gemm1, 6, 2), 2), None);
        assert_eq!(a_box_row(&p, &task(TaskKind::Gemm0, 6, 1), 1), None);
        assert_eq!(a_box_row(&p, &task(TaskKind::Gemm0, 2, 1), 1), Some((a_maps::DISPATCH_ROWS, 2 * 500 + 128)));
        assert_eq!(a_box_row(&p, &task(TaskKind::Gemm0, 2, 3), 3), None);
        let copying = MoeParams { flags: super::super::flags::COPY_LOCAL, ..p };
        assert_eq!(a_box_row(&copying, &task(TaskKind::Gemm0, 6, 1), 1), Some((a_maps::DISPATCH_ROWS, 6 * 500 + 128)));
        let scaling = MoeParams { router: super::super::RouterKind::SigmoidScaledInput as u32, ..p };
        assert_eq!(a_box_row(&scaling, &task(TaskKind::Gemm0, 6, 1), 1), Some((a_maps::DISPATCH_ROWS, 6 * 500 + 128)));
        // 8 pairs x 15 slots: fewer rows than one box.
        assert_eq!(a_box_row(&MoeParams { slot_stride: 15, ..p }, &task(TaskKind::Gemm1, 6, 1), 1), None);
    }

    /// Streaming: column tile 0 of a full one-segment tile of own rows stores, the tile's other
    /// GEMM0 tasks read (by a box of the dispatch region); partial, merged, peers' tiles and
    /// GEMM1 take no part, nor anything when the dispatch copies the rows.
    #[test]
    fn only_full_own_tiles_stream_their_rows() {
        use super::super::flags::{COPY_LOCAL, STREAM_ROWS};
        let p = MoeParams { rank: 1, flags: STREAM_ROWS, ..params() };
        let own = |n_tile| gemm_task(TaskKind::Gemm0, 6, 1, 128, n_tile);
        assert_eq!(row_stream(&p, &own(0)), RowStream::Stores);
        assert_eq!(row_stream(&p, &own(5)), RowStream::Reads);
        assert_eq!(a_box_row(&p, &own(0), 1), None);
        assert_eq!(a_box_row(&p, &own(5), 1), Some((a_maps::DISPATCH_ROWS, 6 * 500 + 128)));
        assert_eq!(row_stream(&p, &gemm_task(TaskKind::Gemm0, 6, 1, 100, 5)), RowStream::None);
        assert_eq!(a_box_row(&p, &gemm_task(TaskKind::Gemm0, 6, 1, 100, 5), 1), None);
        assert_eq!(row_stream(&p, &gemm_task(TaskKind::Gemm0, 6, 2, 128, 5)), RowStream::None);
        assert_eq!(row_stream(&p, &gemm_task(TaskKind::Gemm0, 2, 1, 128, 0)), RowStream::None);
        assert_eq!(row_stream(&p, &gemm_task(TaskKind::Gemm1, 6, 1, 128, 5)), RowStream::None);
        let copying = MoeParams { flags: STREAM_ROWS | COPY_LOCAL, ..p };
        assert_eq!(row_stream(&copying, &own(0)), RowStream::None);
        assert_eq!(row_stream(&MoeParams { flags: 0, ..p }, &own(5)), RowStream::None);
        assert_eq!(row_stream(&MoeParams { slot_stride: 15, ..p }, &own(0)), RowStream::None);
    }

    #[test]
    fn runs_must_hold_their_tile_and_fit_the_launch() {
        let p = params();
        assert_eq!(launch_tiles(&p), 16);
        assert!(run_in_bounds(&p, 3, 2, 4) && run_in_bounds(&p, 2, 2, 1) && run_in_bounds(&p, 15, 8, 8));
        assert!(!run_in_bounds(&p, 1, 2, 4) && !run_in_bounds(&p, 6, 2, 4) && !run_in_bounds(&p, 15, 8, 9));
        assert!(!run_in_bounds(&p, 3, 2, u32::MAX) && !run_in_bounds(&p, 3, 3, 0));
    }

    fn params() -> MoeParams {
        // 2 GPUs x 4 local experts, capacity 250 in this forward (2 row tiles per pair).
        MoeParams {
            tokens: 1000,
            hidden: 256,
            inter: 320,
            experts: 8,
            top_k: 2,
            capacity: 250,
            slot_stride: 500,
            tile_stride: 4,
            world: 2,
            local_experts: 4,
            ..MoeParams::default()
        }
    }

    #[test]
    fn tasks_out_of_range_are_caught() {
        let p = params();
        assert_eq!(launch_tiles(&p), 16);
        let task = |kind, tile| Task { stamp: 0, kind, tile, n_tile: 0, info: tile_info(1, 1, 128), pair: 5, slot: 0, _pad: 0 };
        for kind in [TaskKind::Gemm0 as u32, TaskKind::Gemm1 as u32] {
            assert!(task_in_bounds(&p, &task(kind, 15)));
            assert!(!task_in_bounds(&p, &task(kind, 16)));
            assert!(!task_in_bounds(&p, &task(kind, u32::MAX)));
        }
        // A combine task past the tokens touches nothing (its token range is clamped).
        assert!(task_in_bounds(&p, &task(TaskKind::Combine as u32, 1000)));
        assert!(task_in_bounds(&p, &task(TaskKind::Exit as u32, 0)));
        assert!(!task_in_bounds(&p, &task(0, 0)));
        assert!(!task_in_bounds(&p, &task(7, 0)));
        // Shared GEMM0 tasks: 1000 tokens = 7 full tiles + 104 rows; Is = 128: 2 tasks per tile.
        let s = MoeParams { shared_inter: 128, ..p };
        let t = shared_gemm0_task(&s, 0);
        assert_eq!((t.kind, t.tile, t.n_tile, t.slot, tile_info_parts(t.info)), (TaskKind::Gemm0 as u32, 16, 0, 0, (0, 1, 128)));
        let t = shared_gemm0_task(&s, 3);
        assert_eq!((t.tile, t.n_tile, t.slot, tile_info_parts(t.info)), (17, 1, 128, (0, 1, 128)));
        let t = shared_gemm0_task(&s, 15);
        assert_eq!((t.tile, t.n_tile, t.slot, tile_info_parts(t.info)), (23, 1, 896, (0, 1, 104)));
        assert!(task_in_bounds(&s, &t));
        let one = MoeParams { tokens: 1, shared_inter: 192, ..p };
        let t = shared_gemm0_task(&one, 2);
        assert_eq!((t.tile, t.n_tile, t.slot, tile_info_parts(t.info)), (16, 2, 0, (0, 1, 1)));
        // A shared expert adds ceil(1000 / 128) = 8 row tiles after the experts' 16.
        let s = MoeParams { shared_inter: 128, ..p };
        assert_eq!((shared_tiles(&p), shared_tiles(&s), task_tiles(&s)), (0, 8, 24));
        for kind in [TaskKind::Gemm0 as u32, TaskKind::Gemm1 as u32] {
            assert!(task_in_bounds(&s, &task(kind, 23)));
            assert!(!task_in_bounds(&s, &task(kind, 24)));
        }
    }

    #[test]
    fn segments_stay_inside_the_forward_capacity() {
        let p = params();
        assert!(segment_in_bounds(&p, 3, 7, 200, 50));
        assert!(!segment_in_bounds(&p, 3, 7, 200, 51));
        assert!(!segment_in_bounds(&p, 3, 8, 0, 1));
        assert!(!segment_in_bounds(&p, 2, 7, 0, 1));
        assert!(!segment_in_bounds(&p, 3, 7, u32::MAX, 2)); // no wrap
    }

    #[test]
    fn each_gpu_dispatches_its_own_experts_first() {
        // 4 GPUs x 8 local experts, 2 parts per expert: GPU 2 starts at expert 16, wraps at 32.
        assert_eq!(dispatch_expert(0, 2, 2, 8, 32), 16);
        assert_eq!(dispatch_expert(1, 2, 2, 8, 32), 16);
        assert_eq!(dispatch_expert(2, 2, 2, 8, 32), 17);
        assert_eq!(dispatch_expert(33, 2, 2, 8, 32), 0);
    }

    #[test]
    fn part_ownership_of_slot_ranges() {
        // 3 parts: tiles 0, 3, 6... belong to part 0.
        assert!(part_owns_any(0, 10, 0, 3));
        assert!(!part_owns_any(0, 10, 1, 3));
        assert!(part_owns_any(120, 130, 1, 3)); // tiles 0 and 1
        assert!(!part_owns_any(120, 130, 2, 3));
        assert!(part_owns_any(0, 3 * 128, 2, 3)); // spans every part
        assert!(part_owns_any(5, 6, 0, 1));
    }

    #[test]
    fn kinds_round_trip() {
        for k in [TaskKind::Gemm0, TaskKind::Gemm1, TaskKind::Combine, TaskKind::Exit] {
            assert_eq!(TaskKind::from_u32(k as u32), Some(k));
        }
        for v in 1..=6 {
            assert_eq!(WaitKind::from_u32(v).map(|k| k as u32), Some(v));
        }
        for v in 1..=10 {
            assert_eq!(FaultKind::from_u32(v).map(|k| k as u32), Some(v));
        }
        assert_eq!((TaskKind::from_u32(0), WaitKind::from_u32(7), FaultKind::from_u32(11)), (None, None, None));
        assert_eq!(tile_info_parts(tile_info(255, 8, 128)), (255, 8, 128));
    }
}
