//! Where data lives: the symmetric heap and the workspace laid out for a [`Shape`] (the layer's
//! largest forward), and the tile counts the layout and the roles share. Pure functions, so the
//! host plans once and the kernels index the same way.

use super::abi::{COMBINE_TOKENS, Control, HeapLayout, TILE_K_BYTES, TILE_M, TILE_N, Task, TileDesc, WS_TILE_N, WorkspaceLayout};

/// `ceil(a / b)`.
#[inline(always)]
pub const fn div_ceil(a: u32, b: u32) -> u32 {
    a.div_ceil(b)
}

/// Row tiles of a region holding `rows` rows.
#[inline(always)]
pub const fn row_tiles(rows: u32) -> u32 {
    div_ceil(rows, TILE_M)
}

/// Output columns of one GEMM0 task on tiles `tile_n` wide: gated tiles hold W1 and W3 columns
/// side by side.
#[inline(always)]
pub const fn gemm0_tile_cols(gated: bool, tile_n: u32) -> u32 {
    if gated { tile_n / 2 } else { tile_n }
}

/// GEMM0 tasks per row tile.
#[inline(always)]
pub const fn gemm0_tiles(inter: u32, gated: bool, tile_n: u32) -> u32 {
    div_ceil(inter, gemm0_tile_cols(gated, tile_n))
}

/// GEMM1 tasks per row tile.
#[inline(always)]
pub const fn gemm1_tiles(hidden: u32, tile_n: u32) -> u32 {
    div_ceil(hidden, tile_n)
}

/// Counters per row tile in the workspace's `gemm0_done` region: one per GEMM1 K split (GEMM0
/// column tiles done that feed it), then the tile's splits whose GEMM1 tasks are queued.
pub const GEMM0_COUNTERS: u32 = MAX_GEMM1_SPLITS + 1;

/// The warp-specialized engine's use of a row tile's counters (its GEMM1 tasks have no K
/// splits): GEMM0 column tiles finished; on a run's first tile, the run's tiles finished
/// (`flags::GEMM1_RUNS`); K slices of the tile's rows stored into the dispatch region by its
/// first GEMM0 task (`flags::STREAM_ROWS`).
pub mod ws_counters {
    pub const COLUMNS_DONE: u32 = 0;
    pub const RUN_TILES_DONE: u32 = 1;
    pub const STORED_SLICES: u32 = 2;
    const _: () = assert!(STORED_SLICES < super::GEMM0_COUNTERS);
}

/// The K split of GEMM1 (of `splits` over `k_tiles` K tiles, split s taking
/// `[s·k_tiles/splits, (s+1)·k_tiles/splits)` as in `ffn::gemm1`) that K tile `k` falls in.
#[inline(always)]
pub const fn split_of_k_tile(k: u32, k_tiles: u32, splits: u32) -> u32 {
    ((k + 1) * splits - 1) / k_tiles
}

/// The GEMM1 K splits (first, last) whose K range GEMM0 column tile `n` of a row tile writes:
/// its columns `[n·cols, (n+1)·cols)` of `inter` are K of GEMM1, `elem_bytes` each.
#[inline(always)]
pub const fn gemm0_task_splits(n: u32, cols: u32, inter: u32, elem_bytes: u32, splits: u32) -> (u32, u32) {
    let (per_k, k_tiles) = (TILE_K_BYTES / elem_bytes, inter * elem_bytes / TILE_K_BYTES);
    let end = if (n + 1) * cols < inter { (n + 1) * cols } else { inter };
    (split_of_k_tile(n * cols / per_k, k_tiles, splits), split_of_k_tile((end - 1) / per_k, k_tiles, splits))
}

/// How many GEMM0 column tiles of a row tile write K split `s` of GEMM1 (see
/// [`gemm0_task_splits`]): once they are all done, that split's GEMM1 tasks may start.
#[inline(always)]
pub const fn split_gemm0_tasks(s: u32, cols: u32, inter: u32, elem_bytes: u32, splits: u32) -> u32 {
    let (per_k, k_tiles) = (TILE_K_BYTES / elem_bytes, inter * elem_bytes / TILE_K_BYTES);
    let (k0, k1) = (s * k_tiles / splits, (s + 1) * k_tiles / splits);
    (k1 * per_k - 1) / cols - k0 * per_k / cols + 1
}

/// Row tiles of the shared expert for `tokens` tokens (0 without one, `shared_inter` = 0):
/// tile s holds tokens `128 s ..`, GEMM0 always gated (the shared expert is act(x·S1ᵀ) * (x·S3ᵀ)).
#[inline(always)]
pub const fn shared_row_tiles(shared_inter: u32, tokens: u32) -> u32 {
    if shared_inter == 0 { 0 } else { row_tiles(tokens) }
}

/// 128-token gate chunks.
#[inline(always)]
pub const fn gate_chunks(tokens: u32) -> u32 {
    div_ceil(tokens, TILE_M)
}

/// Combine tasks.
#[inline(always)]
pub const fn combine_tasks(tokens: u32) -> u32 {
    div_ceil(tokens, COMBINE_TOKENS)
}

/// Most K splits of the gate: the routing phase sums this many partials per logit.
pub const MAX_GATE_SPLITS: u32 = 32;
/// Lanes that route one token together (a power of two, at most 32). When the grid's warps
/// outnumber the tokens (decode), a whole warp per token spreads them over the most blocks.
/// Otherwise as few as hold the token: each lane at most 8 of its logits, and lane j < k writes
/// choice j; more tokens per warp step, since routing is a chain of loads and shuffles per step,
/// not arithmetic (one token per warp step routed T = 16384, E = 32 in 75 us; perf log v13).
#[inline(always)]
pub const fn route_lanes(experts: u32, top_k: u32, tokens: u32, blocks: u32) -> u32 {
    if tokens <= 4 * blocks {
        return 32;
    }
    let per_lane = experts.div_ceil(8);
    let need = if per_lane > top_k { per_lane } else { top_k };
    let lanes = need.next_power_of_two();
    if lanes > 32 { 32 } else { lanes }
}

/// Lanes that route one token in a lean launch, where every block routes every token: a whole
/// warp for at most four (one step of the block's four warps), else 16, so eight tokens still
/// take one step while each lane holds at most 8 logits (E <= 128).
pub const fn lean_route_lanes(tokens: u32, experts: u32) -> u32 {
    if tokens <= 4 || experts > 16 * 8 { 32 } else { 16 }
}

/// Tokens per routing unit: one per lane group of a block's four routing warps. Small units
/// spread decode's few tokens over many blocks (each block's warps take one step).
#[inline(always)]
pub const fn route_tokens(lanes: u32) -> u32 {
    4 * (32 / lanes)
}

/// Tokens up to which a forward may take the lean decode kernel's items (`lean`, perf log v34):
/// an item keeps [`LEAN_ROWS`] rows a partial.
pub const LEAN_MAX_TOKENS: u32 = 4;
/// Rows of one expert a lean item computes (a token picks an expert once).
pub const LEAN_ROWS: u32 = LEAN_MAX_TOKENS;
/// Tokens up to which a forward may take the sweep (`sweep`): past [`LEAN_ROWS`] rows an expert
/// its dot products run on tensor cores, eight rows a fragment.
pub const SWEEP_MAX_TOKENS: u32 = 8;
/// Rows an expert can hold in a lean block's routing tables (the items' or the sweep's).
pub const EXPERT_MAX_ROWS: u32 = SWEEP_MAX_TOKENS;
/// (token, choice) pairs of a lean block's routing tables: at most 8 choices a token.
pub const LEAN_MAX_PAIRS: u32 = SWEEP_MAX_TOKENS * 8;
/// Bytes of the tokens' input rows a lean block keeps in shared memory (T·H in 16-bit values).
pub const LEAN_X_BYTES: u32 = 64 * 1024;
/// Dynamic shared memory of a lean block (`lean::Block`): the tokens' rows after 8000 bytes of
/// routing tables and parameters. Smaller than the persistent engines' [`super::SHARED_BYTES`], so
/// [`SWEEP_BLOCKS_PER_SM`] sweep blocks fit an SM.
pub const LEAN_SHARED_BYTES: u32 = 8000 + LEAN_X_BYTES;
/// Sweep blocks an SM on Hopper (`entries`: the sm_90a build's launch bounds, which hold ptxas
/// to 65536 / (3 · 128) registers a thread; H100/H200 hold 228 KiB of shared memory an SM, 1 KiB
/// of it reserved a block).
pub const SWEEP_BLOCKS_PER_SM: u32 = 3;
const _: () = assert!(SWEEP_BLOCKS_PER_SM * (LEAN_SHARED_BYTES + 1024) <= 228 * 1024);
/// Columns of I in one lean item: GEMM0 of the slice, then its part of GEMM1 (a 128-byte piece
/// of each 16-bit W2 row).
pub const LEAN_SLICE: u32 = 64;

/// Block `block`'s share `[first, end)` of `units` units over `blocks` blocks (the sweep's):
/// contiguous, in block order, sizes within one.
pub const fn block_share(units: u32, block: u32, blocks: u32) -> (u32, u32) {
    let (u, b, g) = (units as u64, block as u64, blocks as u64);
    ((u * b / g) as u32, (u * (b + 1) / g) as u32)
}

/// A sweep share `[first, end)` of expert rows' units (`per` an expert row: columns of I in
/// GEMM0, rows of H in GEMM1) cut at expert rows: `(a, lo, hi)`, units `[lo, hi)` of expert
/// row `a`, in order.
pub struct ExpertRuns {
    next: u32,
    end: u32,
    per: u32,
}

impl ExpertRuns {
    pub const fn new((first, end): (u32, u32), per: u32) -> Self {
        ExpertRuns { next: first, end, per }
    }
}

impl Iterator for ExpertRuns {
    type Item = (u32, u32, u32);

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let a = self.next / self.per;
        let stop = self.end.min((a + 1) * self.per);
        let run = (a, self.next - a * self.per, stop - a * self.per);
        self.next = stop;
        Some(run)
    }
}

/// Items of a lean forward with `experts` experts holding kept rows: one per (expert, slice).
pub const fn lean_items(experts: u32, inter: u32) -> u32 {
    experts * (inter / LEAN_SLICE)
}

/// Blocks of a lean launch: the items of the most experts `tokens` tokens can choose (every
/// block arrives once, so the count is exact whatever the routing); `dense`
/// (`flags::LEAN_DENSE`): a routing block and every expert's items.
pub const fn lean_grid(tokens: u32, top_k: u32, experts: u32, inter: u32, dense: bool) -> u32 {
    if dense {
        return 1 + lean_items(experts, inter);
    }
    let chosen = if tokens * top_k < experts { tokens * top_k } else { experts };
    lean_items(chosen, inter)
}

/// The first f32 partial row (of `hidden` values) of item (expert row `a`, slice `s`) in the
/// partial region: [`LEAN_ROWS`] rows an item.
pub const fn lean_partial_row(a: u32, s: u32, slices: u32) -> u32 {
    (a * slices + s) * LEAN_ROWS
}

/// Bytes of the lean sweep's buffers in the partial region: GEMM0's rounded outputs, one row of
/// `inter` per kept (token, choice) pair (an expert's rows together), then GEMM1's, rows of
/// `hidden`; 16-bit.
pub const fn sweep_bytes(hidden: u32, inter: u32) -> u64 {
    LEAN_MAX_PAIRS as u64 * (hidden + inter) as u64 * 2
}

/// Bytes of the partials a lean launch of [`lean_grid`] blocks writes at most.
pub const fn lean_partial_bytes(grid: u32, hidden: u32) -> u64 {
    grid as u64 * LEAN_ROWS as u64 * hidden as u64 * 4
}

/// Routing steps of the static decode plan, where every block routes every token (4 tokens a
/// step at decode). Two steps (T = 5..8) measured mixed against the OS plan (perf log v16:
/// Mixtral-size T = 8 -1.5%, T = 8 at E = 64 +3%), one step always won (-2% to -18%).
pub const STATIC_ROUTE_STEPS: u32 = 1;

/// Bytes of one full K-split GEMM1 partial tile (f32, TILE_M x TILE_N): the partial region
/// holds one per block of the grid.
pub const GEMM1_PARTIAL_BYTES: u64 = (TILE_M * TILE_N * 4) as u64;
/// Most K splits of a GEMM1 task.
pub const MAX_GEMM1_SPLITS: u32 = 16;

/// Rows of one K-split GEMM1 partial in a forward of `tokens` per GPU on `world` GPUs: a row
/// tile holds at most one row per token of every GPU (at decode a few rows, so the partial
/// region holds many more of them than full tiles).
#[inline(always)]
pub const fn gemm1_partial_rows(world: u32, tokens: u32) -> u32 {
    let rows = world * tokens;
    if rows < TILE_M { if rows == 0 { 1 } else { rows } } else { TILE_M }
}

/// Bytes of one K-split GEMM1 partial ([`gemm1_partial_rows`] rows of TILE_N f32).
#[inline(always)]
pub const fn gemm1_partial_bytes(world: u32, tokens: u32) -> u64 {
    (gemm1_partial_rows(world, tokens) * TILE_N * 4) as u64
}

/// Most row tiles one forward forms on a GPU (their ids are dense from 0): each holds at least
/// one of the rows arriving (at most `world · tokens · top_k`), and there are at most
/// `launch_tiles`.
#[inline(always)]
pub const fn formed_tiles_bound(launch_tiles: u32, world: u32, tokens: u32, top_k: u32) -> u32 {
    let rows = world as u64 * tokens as u64 * top_k as u64;
    if rows < launch_tiles as u64 { rows as u32 } else { launch_tiles }
}

/// Floats between rows of the gate logits: E rounded up to whole 16-byte vectors.
#[inline(always)]
pub const fn logits_stride(experts: u32) -> u32 {
    experts.div_ceil(4) * 4
}

/// Round `x` up to a multiple of 256 bytes.
#[inline(always)]
const fn align256(x: u64) -> u64 {
    (x + 255) & !255
}

/// The shape a heap / workspace layout depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub tokens: u32,
    pub hidden: u32,
    pub inter: u32,
    pub experts: u32,
    pub top_k: u32,
    pub capacity: u32,
    pub world: u32,
    pub elem_bytes: u32,
    pub gated: bool,
    /// Processor blocks per GPU (sizes the queue's exit tasks).
    pub processors: u32,
    /// The shared expert's intermediate width, 0 without one.
    pub shared_inter: u32,
}

impl Shape {
    pub const fn local_experts(&self) -> u32 {
        self.experts / self.world
    }
    /// (source GPU, local expert) pairs that send rows to one GPU.
    pub const fn pairs(&self) -> u32 {
        self.world * self.local_experts()
    }
    pub const fn tiles_per_pair(&self) -> u32 {
        row_tiles(self.capacity)
    }
    /// Most row tiles one GPU can form (merging only lowers the count).
    pub const fn max_tiles(&self) -> u64 {
        self.pairs() as u64 * self.tiles_per_pair() as u64
    }
    /// Row tiles of the shared expert: this GPU's tokens, 128 per tile.
    pub const fn shared_tiles(&self) -> u64 {
        shared_row_tiles(self.shared_inter, self.tokens) as u64
    }
    /// Most row tiles whose GEMM0 tasks one launch counts: the experts' then the shared expert's.
    pub const fn task_tiles(&self) -> u64 {
        self.max_tiles() + self.shared_tiles()
    }
    /// Combine slots per token: k, plus one for the shared expert's output.
    pub const fn combine_stride(&self) -> u32 {
        self.top_k + (self.shared_inter != 0) as u32
    }
    /// Most tasks one launch can put in the queue on one GPU.
    pub const fn queue_slots(&self) -> u64 {
        // Narrow tiles: the most tasks any engine makes.
        let per_row = (gemm0_tiles(self.inter, self.gated, TILE_N) + gemm1_tiles(self.hidden, TILE_N)) as u64;
        let per_shared_row = (gemm0_tiles(self.shared_inter, true, TILE_N) + gemm1_tiles(self.hidden, TILE_N)) as u64;
        // The extra tasks of K-split GEMM1 and GEMM0 tasks number at most their split tasks.
        self.max_tiles() * per_row
            + self.shared_tiles() * per_shared_row
            + combine_tasks(self.tokens) as u64
            + self.processors as u64
            + 2 * self.gemm1_split_tasks()
    }
    /// Full-size partial tiles each of GEMM1 and GEMM0 has in the partial region: one per block
    /// of the grid. A forward of few tokens fits more of its smaller partials
    /// ([`gemm1_partial_bytes`]).
    pub const fn gemm1_partial_slots(&self) -> u64 {
        self.processors as u64 + 1
    }
    /// Most GEMM1 tasks of a K-split forward (tiles · column tiles · splits): four per block of
    /// the grid, so a decode forward can split finely enough to even out the blocks' loads. Also
    /// the count words (one per column tile). GEMM0's K splits have as many again.
    pub const fn gemm1_split_tasks(&self) -> u64 {
        4 * (self.processors as u64 + 1)
    }
    /// Most counts the returned-rows word of one GPU reaches in a launch: every row of its
    /// tokens (routed and shared) once per GEMM1 column tile and tile part (`MoeParams::tile_n`,
    /// `task_parts`: 256-wide tiles count twice). The word is a u32, and a wrapped count could
    /// start the combine early, so the plan refuses shapes above `u32::MAX`.
    pub const fn returns_bound(&self) -> u64 {
        let narrow = gemm1_tiles(self.hidden, TILE_N) as u64;
        let wide = 2 * gemm1_tiles(self.hidden, WS_TILE_N) as u64;
        let per_row = if narrow > wide { narrow } else { wide };
        self.tokens as u64 * self.combine_stride() as u64 * per_row
    }
    /// Rows of partial logits any forward of at most `tokens` tokens needs: splits·T is at most
    /// T (one split), max_splits·T, and grid·128 (splits ≤ grid / chunks, T ≤ chunks·128).
    pub const fn gate_logit_rows(&self) -> u64 {
        let t = self.tokens as u64;
        let k_tiles = self.hidden * self.elem_bytes / TILE_K_BYTES;
        let by_k = (if k_tiles < MAX_GATE_SPLITS { k_tiles } else { MAX_GATE_SPLITS }) as u64 * t;
        let by_grid = (self.processors as u64 + 1) * TILE_M as u64;
        let most = if by_k < by_grid { by_k } else { by_grid };
        if most > t { most } else { t }
    }
}

/// A bump allocator of 256-byte-aligned regions (also used by the host to lay out a scratch
/// arena from region sizes).
pub struct Bump(u64);

impl Bump {
    pub const fn new() -> Bump {
        Bump(0)
    }

    /// Offset of a new region of `bytes`; the next starts at the following 256-byte boundary.
    pub const fn take(&mut self, bytes: u64) -> u64 {
        let at = self.0;
        self.0 = align256(at + bytes);
        at
    }

    /// Bytes taken so far (a multiple of 256).
    pub const fn total(&self) -> u64 {
        self.0
    }
}

impl Default for Bump {
    fn default() -> Bump {
        Bump::new()
    }
}

/// Lays out the symmetric heap for `s`.
pub const fn heap_layout(s: &Shape) -> HeapLayout {
    let e = s.elem_bytes as u64;
    let pairs = s.pairs() as u64;
    let cap = s.capacity as u64;
    let mut b = Bump::new();
    let control = b.take(core::mem::size_of::<Control>() as u64);
    let dispatch_flags = b.take(pairs * s.tiles_per_pair() as u64 * 8);
    let dispatch_meta = b.take(pairs * cap * 4);
    let dispatch_rows = b.take(pairs * cap * s.hidden as u64 * e);
    let combine_slots = b.take(s.tokens as u64 * s.combine_stride() as u64 * s.hidden as u64 * e);
    HeapLayout { control, dispatch_flags, dispatch_meta, dispatch_rows, combine_slots, bytes: b.0 }
}

/// Lays out one GPU's workspace for `s`.
pub const fn workspace_layout(s: &Shape) -> WorkspaceLayout {
    let e = s.elem_bytes as u64;
    let t = s.tokens as u64;
    let tk = t * s.top_k as u64;
    let pairs = s.pairs() as u64;
    let tiles = s.max_tiles();
    let mut b = Bump::new();
    let logits = b.take(s.gate_logit_rows() * logits_stride(s.experts) as u64 * 4);
    // Padded so the dispatch scan can read 16 bytes at a time past the last token.
    let topk_expert = b.take(tk + 16);
    let topk_weight = b.take(tk * 4);
    let route_slot = b.take(tk * 4);
    let chunk_counts = b.take(gate_chunks(s.tokens) as u64 * s.experts as u64 * 4);
    let staging = b.take(pairs * s.capacity as u64 * s.inter as u64 * e);
    let shared_staging = b.take(if s.shared_inter == 0 { 0 } else { t * s.shared_inter as u64 * e });
    let tile_descs = b.take(tiles * core::mem::size_of::<TileDesc>() as u64);
    let gemm0_done = b.take(s.task_tiles() * GEMM0_COUNTERS as u64 * 4);
    // K-split partials and their count words: GEMM1's in the first half of each, GEMM0's in the
    // second (`ffn::sum_splits`).
    let gemm1_partials = b.take(2 * s.gemm1_partial_slots() * GEMM1_PARTIAL_BYTES);
    let gemm1_split_done = b.take(2 * s.gemm1_split_tasks() * 4);
    let queue_slots = s.queue_slots();
    let queue = b.take(queue_slots * core::mem::size_of::<Task>() as u64);
    WorkspaceLayout {
        logits,
        topk_expert,
        topk_weight,
        route_slot,
        chunk_counts,
        staging,
        shared_staging,
        tiles: tile_descs,
        gemm0_done,
        gemm1_partials,
        gemm1_split_done,
        queue,
        queue_slots,
        bytes: b.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lean_routing_takes_one_step_for_its_tokens() {
        for (tokens, experts) in [(1, 8), (4, 256), (5, 8), (8, 64), (8, 128), (8, 256)] {
            let lanes = lean_route_lanes(tokens, experts);
            assert!(experts.div_ceil(lanes) <= 8, "at most 8 logits a lane");
            assert_eq!(tokens <= route_tokens(lanes), experts <= 128 || tokens <= 4, "T = {tokens}, E = {experts}");
        }
        assert_eq!(lean_route_lanes(3, 64), 32);
    }

    #[test]
    fn sweep_shares_cover_every_unit_once_in_runs_of_one_expert_row() {
        for (rows, per, blocks) in [(1, 14336, 396), (7, 2048, 396), (16, 320, 9), (3, 64, 396), (64, 4096, 396), (2, 1, 5)] {
            let units = rows * per;
            let mut next = (0, 0);
            for b in 0..blocks {
                let share = block_share(units, b, blocks);
                assert_eq!(share.0, next.1, "contiguous, in block order");
                assert!(share.1 - share.0 <= units / blocks + 1 && share.1 - share.0 >= units / blocks);
                next = share;
                let mut at = share.0;
                for (a, lo, hi) in ExpertRuns::new(share, per) {
                    assert!(a < rows && lo < hi && hi <= per, "{rows} {per} {blocks}: ({a}, {lo}, {hi})");
                    assert_eq!(a * per + lo, at, "runs in order, nothing skipped");
                    at = a * per + hi;
                }
                assert_eq!(at, share.1);
            }
            assert_eq!(next.1, units);
        }
    }

    #[test]
    fn lean_launches_cover_their_items_and_partials() {
        // Routed: the items of the most experts the tokens can choose; dense: a routing block
        // and every expert's items.
        assert_eq!(lean_grid(1, 2, 8, 256, false), 8);
        assert_eq!(lean_grid(4, 2, 8, 256, false), 32);
        assert_eq!(lean_grid(4, 8, 16, 320, false), 16 * 5);
        assert_eq!(lean_grid(1, 2, 8, 256, true), 33);
        assert_eq!(lean_grid(4, 8, 16, 320, true), 81);
        // Every item's partial rows lie inside the bytes the launch may write, apart from any
        // other item's: LEAN_ROWS rows each, item (a, s) at row (a·slices + s)·LEAN_ROWS.
        for (experts, inter, hidden) in [(8, 256, 256), (16, 320, 192), (4, 64, 2048)] {
            let slices = inter / LEAN_SLICE;
            let grid = lean_grid(LEAN_MAX_TOKENS, 2, experts, inter, true);
            let mut taken = [false; 1024];
            for a in 0..experts {
                for s in 0..slices {
                    for r in 0..LEAN_ROWS {
                        let row = lean_partial_row(a, s, slices) + r;
                        assert!(!taken[row as usize]);
                        taken[row as usize] = true;
                        assert!((row as u64 + 1) * hidden as u64 * 4 <= lean_partial_bytes(grid, hidden));
                    }
                }
            }
        }
    }

    #[test]
    fn gemm0_tasks_feed_the_gemm1_splits_of_their_columns() {
        // Mixtral size, gated bf16: 224 column tiles of 64, 4 splits of 56 K tiles.
        assert_eq!(gemm0_task_splits(0, 64, 14336, 2, 4), (0, 0));
        assert_eq!(gemm0_task_splits(55, 64, 14336, 2, 4), (0, 0));
        assert_eq!(gemm0_task_splits(56, 64, 14336, 2, 4), (1, 1));
        assert_eq!(split_gemm0_tasks(3, 64, 14336, 2, 4), 56);
        // Brute force: a split's count is the tiles whose range includes it, and one split
        // covers every tile; odd splits, plain tiles that straddle splits, f32 and f16.
        for (cols, inter, elem) in [(64, 14336, 2), (128, 2048, 2), (128, 1536, 4), (64, 320, 2), (128, 384, 4), (128, 6400, 2)] {
            let (k_tiles, n0) = (inter * elem / TILE_K_BYTES, div_ceil(inter, cols));
            for splits in 1..=MAX_GEMM1_SPLITS.min(k_tiles) {
                let mut count = [0u32; MAX_GEMM1_SPLITS as usize];
                for n in 0..n0 {
                    let (a, b) = gemm0_task_splits(n, cols, inter, elem, splits);
                    assert!(a <= b && b < splits, "{cols} {inter} {elem} {splits}: tile {n} -> {a}..={b}");
                    for c in &mut count[a as usize..=b as usize] {
                        *c += 1;
                    }
                }
                for s in 0..splits {
                    assert_eq!(
                        split_gemm0_tasks(s, cols, inter, elem, splits),
                        count[s as usize],
                        "{cols} {inter} {elem} {splits}: split {s}"
                    );
                }
                if splits == 1 {
                    assert_eq!(count[0], n0);
                }
            }
        }
    }

    #[test]
    fn route_lanes_hold_eight_experts_and_k_choices() {
        let big = |e, k| route_lanes(e, k, 16384, 132);
        assert_eq!(big(32, 2), 4);
        assert_eq!(big(64, 2), 8);
        assert_eq!(big(128, 8), 16);
        assert_eq!(big(256, 8), 32);
        assert_eq!(big(16, 8), 8);
        assert_eq!(big(8, 2), 2);
        assert_eq!(big(8, 1), 1);
        assert_eq!(big(1, 1), 1);
        assert_eq!(big(24, 3), 4);
        for e in 1..=256 {
            for k in 1..=8.min(e) {
                let l = big(e, k);
                assert!(l.is_power_of_two() && l * 8 >= e && l >= k && l <= 32, "{e} {k}");
            }
        }
        // Decode: a warp per token while warps outnumber tokens.
        assert_eq!(route_lanes(64, 2, 128, 264), 32);
        assert_eq!(route_lanes(64, 2, 1056, 264), 32);
        assert_eq!(route_lanes(64, 2, 1057, 264), 8);
        assert_eq!(route_tokens(4), 32);
        assert_eq!(route_tokens(32), 4);
    }

    fn shape() -> Shape {
        Shape {
            tokens: 1000,
            hidden: 256,
            inter: 512,
            experts: 8,
            top_k: 2,
            capacity: 250,
            world: 2,
            elem_bytes: 2,
            gated: false,
            processors: 263,
            shared_inter: 0,
        }
    }

    #[test]
    fn heap_regions_are_disjoint_ordered_and_aligned() {
        let s = shape();
        let h = heap_layout(&s);
        let starts = [h.control, h.dispatch_flags, h.dispatch_meta, h.dispatch_rows, h.combine_slots, h.bytes];
        for w in starts.windows(2) {
            assert!(w[0] < w[1], "{starts:?}");
        }
        assert!(starts.iter().all(|o| o % 256 == 0));
        // 4 local experts x 2 sources, 2 row tiles of 128 for capacity 250.
        assert_eq!(h.dispatch_meta - h.dispatch_flags, 256); // 8 pairs x 2 tiles x 8 B = 128 -> 256
        assert_eq!(h.combine_slots - h.dispatch_rows, 8 * 250 * 256 * 2);
        assert_eq!(h.bytes - h.combine_slots, 1000 * 2 * 256 * 2);
    }

    #[test]
    fn workspace_holds_every_region() {
        let s = shape();
        let w = workspace_layout(&s);
        // At most 4 K splits (the 4 K tiles of H = 256 bf16) of 1000 tokens.
        assert_eq!(s.gate_logit_rows(), 4 * 1000);
        assert_eq!(w.topk_expert - w.logits, align256(4 * 1000 * 8 * 4));
        assert_eq!(w.gemm0_done - w.tiles, 16 * 128);
        // 16 row tiles x (16 split counters + 1).
        assert_eq!(w.gemm1_partials - w.gemm0_done, align256(16 * 17 * 4));
        // For GEMM1 and again for GEMM0: one full K-split partial tile per block of the grid (263
        // processors + the OS), four split tasks' counts.
        assert_eq!(w.gemm1_split_done - w.gemm1_partials, 2 * 264 * 128 * 128 * 4);
        assert_eq!(w.queue - w.gemm1_split_done, align256(2 * 4 * 264 * 4));
        // 16 row tiles x (4 + 2) tasks + 32 combine tasks + 263 exits + 2 x 4 x 264 split tasks.
        assert_eq!(w.queue_slots, 16 * 6 + 32 + 263 + 2 * 4 * 264);
        assert_eq!(w.bytes, w.queue + align256(w.queue_slots * 32));
    }

    #[test]
    fn a_shared_expert_adds_its_tiles_slots_and_staging() {
        let (plain, s) = (shape(), Shape { shared_inter: 192, ..shape() });
        assert_eq!((plain.shared_tiles(), s.shared_tiles()), (0, 8)); // 1000 tokens: 7 full tiles + 104 rows
        assert_eq!((plain.combine_stride(), s.combine_stride()), (2, 3));
        let (h, w) = (heap_layout(&s), workspace_layout(&s));
        assert_eq!(h.bytes - h.combine_slots, 1000 * 3 * 256 * 2);
        assert_eq!(w.tiles - w.shared_staging, align256(1000 * 192 * 2));
        assert_eq!(workspace_layout(&plain).tiles, workspace_layout(&plain).shared_staging);
        // 16 expert tiles and 8 shared ones count GEMM0 tasks (17 counters each).
        assert_eq!(w.gemm1_partials - w.gemm0_done, align256(24 * 17 * 4));
        // Shared tiles are always gated: 192 / 64 = 3 GEMM0 tasks, then 2 GEMM1 tasks.
        assert_eq!(w.queue_slots, 16 * 6 + 8 * (3 + 2) + 32 + 263 + 2 * 4 * 264);
        assert_eq!(shared_row_tiles(64, 1), 1);
        assert_eq!(shared_row_tiles(0, 4096), 0);
        assert_eq!(shared_row_tiles(64, 4096), 32);
    }

    /// A K-split partial holds a row per token of every GPU, at most a full tile, at least one.
    #[test]
    fn partials_shrink_with_the_forward() {
        for (world, tokens, rows) in [(1, 1, 1), (1, 0, 1), (4, 3, 12), (2, 64, 128), (1, 4096, 128), (8, 15, 120)] {
            assert_eq!(gemm1_partial_rows(world, tokens), rows, "{world} x {tokens}");
            assert_eq!(gemm1_partial_bytes(world, tokens), rows as u64 * TILE_N as u64 * 4);
        }
        assert_eq!(gemm1_partial_bytes(1, 128), GEMM1_PARTIAL_BYTES);
    }

    #[test]
    fn tile_counts() {
        assert_eq!(gemm0_tiles(2048, false, TILE_N), 16);
        assert_eq!(gemm0_tiles(2048, true, TILE_N), 32);
        assert_eq!(gemm0_tiles(192, false, TILE_N), 2);
        assert_eq!(gemm1_tiles(320, TILE_N), 3);
        assert_eq!(gemm0_tiles(2048, false, 256), 8);
        assert_eq!(gemm0_tiles(320, true, 256), 3);
        assert_eq!(gemm1_tiles(320, 256), 2);
        assert_eq!(row_tiles(0), 0);
        assert_eq!(row_tiles(129), 2);
    }
}
