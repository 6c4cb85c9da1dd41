//! Default tuning: pure functions of the shape and the grid, CPU-tested. The kernels take their
//! results as launch parameters; a [`crate::Tuning`] value overrides them.

use flashmoe_kernels::layout::{
    MAX_DISPATCH_BLOCKS, MAX_GATE_SPLITS, MAX_GEMM0_SPLITS, MAX_GEMM1_SPLITS, STATIC_ROUTE_STEPS, TILE_K_BYTES, gate_chunks, route_tokens,
};

/// Blocks that dispatch: on one GPU every processor (nothing is copied, only slots assigned);
/// across GPUs at most [`MAX_DISPATCH_BLOCKS`], enough to fill NVLink while the other processors
/// start on the GEMMs.
pub const fn dispatch_blocks(processors: u32, world: u32) -> u32 {
    if world == 1 || processors < MAX_DISPATCH_BLOCKS { processors } else { MAX_DISPATCH_BLOCKS }
}

/// How many dispatch blocks share one expert's rows (at least one).
pub const fn dispatch_parts(dispatch_blocks: u32, experts: u32) -> u32 {
    let p = dispatch_blocks / experts;
    if p == 0 { 1 } else { p }
}

/// GEMM0 output columns (the intermediate size, twice it when gated) from which a layer on the
/// warp-specialized engine copies the rows routed to its own GPU's experts in the dispatch.
/// GEMM0 then reads each row tile by one TMA box a stage instead of gathering its rows by
/// cp.async, which lands each stage later (perf log v23); the copy costs T·k rows written once,
/// the gather a penalty per stage of every GEMM0 task, and there are GEMM0 column tiles x K tiles
/// of those per row tile. Perf log v24, one H200, ws engine, copy vs gather: gated 16384/32
/// (4096 columns) -5%, Mixtral-size T = 4096 (28672 columns) -9%; ungated 2048 columns +1 to +2%
/// at 16384/32 and 8192/64, -2% at 8192/32.
pub const COPY_LOCAL_MIN_GEMM0_COLS: u32 = 4096;

/// Whether a layer copies its own GPU's rows in the dispatch (see [`COPY_LOCAL_MIN_GEMM0_COLS`]):
/// only the warp-specialized engine reads A by TMA. Consulted only where the rows do not stream
/// ([`stream_rows`] off, or `Tuning::stream_rows: Some(false)`).
pub const fn copy_local(warp_specialized: bool, inter: u32, gated: bool) -> bool {
    warp_specialized && inter * if gated { 2 } else { 1 } >= COPY_LOCAL_MIN_GEMM0_COLS
}

/// GEMM0 output columns from which the warp-specialized engine streams a GPU's own rows
/// (`Tuning::stream_rows`): a row tile's first GEMM0 task gathers them and stores them as it
/// goes, so the tile's other GEMM0 tasks (one per further 256 columns) read TMA boxes without
/// the dispatch's copy in the prologue. With one column tile there is no other task to read them.
/// Perf log v25, one H200, against v24's choice (copy when gated and wide, else gather): ungated
/// 16384/32 -2.5%, SwiGLU 8192/64 -3 to -4%, SwiGLU 16384/32, 8192/64, 4096/128 and the
/// Mixtral-size layer even (within 1%). Where it is on, [`copy_local`] is not consulted.
pub const STREAM_ROWS_MIN_GEMM0_COLS: u32 = 2 * 256;

/// Whether the warp-specialized engine streams a GPU's own rows (see
/// [`STREAM_ROWS_MIN_GEMM0_COLS`]).
pub const fn stream_rows(inter: u32, gated: bool) -> bool {
    inter * if gated { 2 } else { 1 } >= STREAM_ROWS_MIN_GEMM0_COLS
}

/// W2 panel bytes (256 rows of the intermediate size) from which the warp-specialized engine
/// queues a run's GEMM1 tasks together (`flags::GEMM1_RUNS`). A GEMM1 task streams its panel
/// over K = I; the run's tiles that share it were claimed a task duration apart when queued tile
/// by tile, and the panel left L2 between its readers. Perf log v24, one H200: Mixtral-size
/// T = 4096 (7.3 MB panels) -2.8%, DRAM read 10.1 -> 7.2 GB per forward. Perf log v28 at I = 2048
/// (1 MB panels), same call, ms: 8192/64 0.689/0.693 -> 0.681/0.680 (DRAM read 1.99 -> 1.90 GB),
/// 16384/64 -1.8%, 8192/32 -1.2%, 16384/32 -0.6%, 16384/128, SwiGLU 16384/32 and 8192/64 -0.3 to
/// -0.5% (v24 had measured gated 16384/32 +3%, before the warp-local epilogue and streamed rows).
/// Smaller panels are unmeasured and keep tile-by-tile queueing.
pub const GEMM1_RUN_MIN_PANEL_BYTES: u32 = 1 << 20;

/// Whether GEMM1 tasks go out per run of row tiles (see [`GEMM1_RUN_MIN_PANEL_BYTES`]).
pub const fn gemm1_runs(inter: u32, elem_bytes: u32) -> bool {
    256 * inter * elem_bytes >= GEMM1_RUN_MIN_PANEL_BYTES
}

/// Partial bytes the lean kernel's last block reduces, and gate weight bytes every lean block
/// reads, up to which the lean decode kernel takes a forward it can run (`Tuning::lean`). Each
/// block computes every logit itself, streams its (expert, slice) item alone and the last one to
/// finish sums every (choice, slice) partial; the persistent engines spread all three over the
/// grid. Perf log v34 (c13, c14; one H200, same call, kernel ms, lean vs the static plan), taken:
/// T = 1, H = I = 256, E = 8 0.018-0.019 vs 0.030-0.031 (8 KiB reduced, 4 KiB of gate); T = 4
/// 0.019-0.020 vs 0.031-0.032 (32 KiB); E = 256 0.024-0.025 vs 0.035 (128 KiB of gate); T = 2,
/// E = 64, H = I = 512 0.026-0.027 vs 0.039 (64 KiB); T = 4 0.028-0.029 vs 0.038 (128 KiB); T = 1,
/// H = I = 1024 0.033 vs 0.038 (128 KiB); T = 2, H = I = 768 0.033-0.035 vs 0.039-0.040 (144
/// KiB). Not taken: T = 2, H = I = 1024 (256 KiB) and T = 4, H = I = 768 (288 KiB) even; T = 1,
/// H = I = 1536 (288 KiB) 0.051 vs 0.041-0.042; T = 1, H = I = 2048 (512 KiB) 0.062-0.064 vs
/// 0.044-0.045.
pub const LEAN_MAX_REDUCED_BYTES: u64 = 160 * 1024;
pub const LEAN_MAX_GATE_BYTES: u64 = 128 * 1024;

/// Whether a forward the lean decode kernel can run takes it: `tokens` tokens of `top_k` choices
/// among `experts` experts of `hidden` x `inter`, in `elem_bytes` values (see
/// [`LEAN_MAX_REDUCED_BYTES`]).
pub const fn lean(tokens: u32, top_k: u32, experts: u32, hidden: u32, inter: u32, elem_bytes: u32) -> bool {
    let slices = (inter / flashmoe_kernels::layout::LEAN_SLICE) as u64;
    let reduced = tokens as u64 * top_k as u64 * slices * hidden as u64 * 4;
    let gate = experts as u64 * hidden as u64 * elem_bytes as u64;
    reduced <= LEAN_MAX_REDUCED_BYTES && gate <= LEAN_MAX_GATE_BYTES
}

/// Whether a lean forward runs densely (`flags::LEAN_DENSE`): block 0 routes while one block per
/// (expert, slice) item computes every token's partial, chosen or not, so no item waits for the
/// gate. Taken while the tokens choose fewer than all experts (`T·k < E`: where every expert is
/// chosen anyway, the routed launch runs each item for its own rows only) and the launch (a
/// routing block and every expert's items) fits one block per SM, so each block streams its
/// item alone as a routed block does. The layer then reads every expert's weights: E / (T·k)
/// times the routed bytes, small where the lean kernel runs. Perf log v35 (c1; one H200, same
/// call, kernel ms, dense vs routed): T = 1, H = I = 256, E = 8 0.017-0.018 vs 0.020-0.022;
/// E = 32 0.017-0.018 vs 0.020-0.021; T = 2, H = I = 512 gated 0.024 vs 0.028; T = 1, H = I =
/// 1024 0.031-0.032 vs 0.037-0.038. Where T·k = E: T = 4, H = I = 256, E = 8 0.020-0.021 vs
/// 0.021; T = 4, H = I = 512 with biases 0.035 vs 0.032-0.033.
pub const fn lean_dense(tokens: u32, top_k: u32, experts: u32, inter: u32, sms: u32) -> bool {
    tokens * top_k < experts && flashmoe_kernels::layout::lean_items(experts, inter) < sms
}

/// Most bytes of the chosen experts' weights up to which the sweep takes a forward the lean
/// kernel's items do not (see [`lean_sweep`]).
pub const LEAN_SWEEP_MAX_WEIGHT_BYTES: u64 = 1 << 30;

/// [`LEAN_SWEEP_MAX_WEIGHT_BYTES`] past three tokens where most chosen experts have one row (see
/// [`lean_sweep`]).
pub const SWEEP_MMA_MAX_WEIGHT_BYTES: u64 = 192 << 20;

/// Whether a forward of `tokens` tokens the lean kernel's items do not take runs the sweep
/// (`flags::LEAN_SWEEP`): every block routes, then the grid's warps stream the chosen experts'
/// weight rows between two grid barriers, each block an equal share (experts of two rows or more
/// on tensor cores). It saves the static plan's start and tail, which matter less the more bytes
/// a forward reads. Taken while the experts get at most two rows each on average (T·k <= 2·E),
/// at any E (past eight experts or four tokens the blocks split the gate), up to
/// [`LEAN_SWEEP_MAX_WEIGHT_BYTES`] of chosen weights; past three tokens, where most chosen
/// experts have one row (T·k < E), only up to [`SWEEP_MMA_MAX_WEIGHT_BYTES`]: one-row experts
/// gain nothing from the tensor-core tiles, and such layers measured slower past ~200 MiB.
/// One H200, same call, kernel ms, sweep vs the static plan (perf log v37, v39, v40):
/// - T = 1, H = I = 2048, E = 8 0.030 vs 0.049; T = 3 0.047-0.050 vs 0.072; T = 1, E = 64
///   0.032 vs 0.044; T = 2, E = 2 0.035-0.037 vs 0.049-0.051;
/// - Mixtral size (H = 4096, I = 14336, E = 8, SwiGLU) T = 1 (672 MiB) 0.200-0.201 vs 0.207,
///   k = 3 (1008 MiB) 0.283-0.284 both; not taken: T = 2 (1.3 GiB) 0.285 vs 0.283, T = 4 and 8
///   (2.6 GiB) 0.522 / 0.727 vs 0.458 / 0.654;
/// - past three tokens, drop-less (v40, the tiles' loads fetching 256 bytes): T = 8, E = 8
///   0.071 vs 0.081-0.082; T = 8, E = 16 (256 MiB) 0.090-0.092 vs 0.095-0.097; T = 8,
///   H = I = 4096, E = 16 (1 GiB) 0.230-0.233 vs 0.230-0.234; T = 8, H = I = 1024, E = 16 0.039
///   vs 0.064 (v39); not taken: T = 8, E = 64 (one row an expert, 256 MiB) 0.114-0.116 vs
///   0.107-0.111 (v39).
pub const fn lean_sweep(tokens: u32, top_k: u32, experts: u32, hidden: u32, inter: u32, gated: bool, elem_bytes: u32) -> bool {
    let bytes = chosen_weight_bytes(tokens, top_k, experts, hidden, inter, gated, elem_bytes);
    let pairs = tokens * top_k;
    let most_on_tensor_cores = pairs >= experts;
    let max_bytes = if tokens <= 3 || most_on_tensor_cores { LEAN_SWEEP_MAX_WEIGHT_BYTES } else { SWEEP_MMA_MAX_WEIGHT_BYTES };
    tokens <= flashmoe_kernels::layout::SWEEP_MAX_TOKENS && pairs <= 2 * experts && bytes <= max_bytes
}

/// Weight bytes of the most experts a forward of `tokens` tokens can choose.
const fn chosen_weight_bytes(tokens: u32, top_k: u32, experts: u32, hidden: u32, inter: u32, gated: bool, elem_bytes: u32) -> u64 {
    let chosen = if tokens * top_k < experts { tokens * top_k } else { experts };
    let matrices = if gated { 3 } else { 2 };
    chosen as u64 * matrices * hidden as u64 * inter as u64 * elem_bytes as u64
}

/// Chosen weight bytes past which the sweep takes a forward both it ([`lean_sweep`]) and the lean
/// items ([`lean`]) would (see [`sweep_before_items`]).
pub const SWEEP_BEFORE_ITEMS_BYTES: u64 = 4 << 20;

/// Whether the sweep rather than the lean items takes a forward both would: past
/// [`SWEEP_BEFORE_ITEMS_BYTES`] of chosen weights its three blocks an SM stream them faster than
/// the items' one block per (expert, 64 columns), and past eight experts its gate is split over
/// the blocks where every item block computes every logit. Perf log v37 (c6-c7; one H200, same
/// call, kernel ms, sweep vs items), T = 1: H = I = 1024, E = 8 (8 MiB) 0.025-0.026 vs 0.027,
/// gated 0.026 vs 0.037, E = 16 0.028 vs 0.032-0.033, E = 64 0.027-0.028 vs 0.035-0.036;
/// H = I = 768, E = 64 (4.5 MiB) 0.026-0.027 vs 0.030, E = 8 0.023 both. Items kept: H = I = 512,
/// E = 64 (2 MiB) 0.026 vs 0.025, gated E = 8 (3 MiB) 0.023-0.024 vs 0.020; H = I = 256,
/// E = 256 0.027 vs 0.025.
pub const fn sweep_before_items(tokens: u32, top_k: u32, experts: u32, hidden: u32, inter: u32, gated: bool, elem_bytes: u32) -> bool {
    chosen_weight_bytes(tokens, top_k, experts, hidden, inter, gated, elem_bytes) > SWEEP_BEFORE_ITEMS_BYTES
}

/// What decides whether a forward may run the static decode plan (docs/decode-plan.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticPlanCase {
    pub world: u32,
    /// The 128-thread engines (not the warp-specialized one).
    pub narrow_tiles: bool,
    pub shared_expert: bool,
    /// Rows routed to this GPU's experts are copied (Llama-4's scaled input, `copy_local`).
    pub copies_rows: bool,
    /// A test hook that acts on dispatch flags is set.
    pub dispatch_hook: bool,
    pub tokens: u32,
    pub top_k: u32,
    pub experts: u32,
    pub route_lanes: u32,
}

/// Whether a forward runs the static decode plan: one GPU, the 128-thread engines, no shared
/// expert and no copied rows (the plan reads every row in place), and so few tokens that one
/// block routes them in [`STATIC_ROUTE_STEPS`] steps and their choices fit one block (T·k <=
/// 128, E <= 256).
pub const fn static_plan(c: &StaticPlanCase) -> bool {
    c.world == 1
        && c.narrow_tiles
        && !c.shared_expert
        && !c.copies_rows
        && !c.dispatch_hook
        && c.tokens <= STATIC_ROUTE_STEPS * route_tokens(c.route_lanes)
        && c.tokens * c.top_k <= 128
        && c.experts <= 256
}

/// K tiles a gate split gets at least: at T = 128, H = 2048 one tile per split (32 splits) made
/// the gate slower than four (8 splits), 30 vs 23 us; at H = 4096, T = 1, 2 tiles per split
/// (32) beat 8 (8 splits), 0.340 vs 0.363 ms per forward (perf log v12).
pub const GATE_SPLIT_K_TILES: u32 = 4;

/// K splits of the gate GEMM: enough (chunk, split) units to occupy the grid, at most one split
/// per [`GATE_SPLIT_K_TILES`] 128-byte K tiles and [`MAX_GATE_SPLITS`].
pub const fn gate_splits(tokens: u32, k_bytes: u32, blocks: u32) -> u32 {
    let chunks = gate_chunks(tokens);
    let k_tiles = k_bytes / TILE_K_BYTES / GATE_SPLIT_K_TILES;
    let k_tiles = if k_tiles == 0 { 1 } else { k_tiles };
    let cap = if k_tiles < MAX_GATE_SPLITS { k_tiles } else { MAX_GATE_SPLITS };
    let s = blocks / chunks;
    if s == 0 {
        1
    } else if s > cap {
        cap
    } else {
        s
    }
}

/// K tiles (128 bytes) a GEMM1 split gets at least. Perf log v17: at T = 1, E = 64 (32 K tiles)
/// 8 splits of 4 K tiles beat the 2 of 16 that a floor of 16 allowed by 8%.
pub const GEMM1_SPLIT_K_TILES: u32 = 4;

/// K splits of GEMM1 on the 128-thread engines (`tasks`: formed row tiles x column tiles;
/// `k_tiles`: GEMM1's K, the intermediate, and `gemm0_k_tiles`: GEMM0's, the hidden size, in
/// 128-byte K tiles). Two reasons to split, at decode where tasks are few:
/// - too few tasks to occupy the grid (Mixtral size, T = 1 made 64 tasks that each streamed
///   3.7 MB of W2 on 64 of 264 blocks while the rest waited; perf log v13): split so about the
///   grid streams at once;
/// - GEMM1 tasks longer than GEMM0's (K = I > H): split so none streams more weight than a
///   GEMM0 task, or the last ones run on alone (Mixtral size, T = 4: 4 splits instead of 1,
///   0.492 -> 0.455 ms; T = 32: 0.798 -> 0.726; perf log v17).
///
/// At most [`MAX_GEMM1_SPLITS`] and at least [`GEMM1_SPLIT_K_TILES`] K tiles each; the plan
/// holds it to the partial region.
pub const fn gemm1_splits(tasks: u32, k_tiles: u32, gemm0_k_tiles: u32, grid: u32) -> u32 {
    let tasks = if tasks == 0 { 1 } else { tasks };
    let by_grid = grid / tasks;
    let by_length = if gemm0_k_tiles == 0 { 1 } else { k_tiles.div_ceil(gemm0_k_tiles) };
    let want = if by_grid > by_length { by_grid } else { by_length };
    let by_k = k_tiles / GEMM1_SPLIT_K_TILES;
    let s = if want < by_k { want } else { by_k };
    let s = if s > MAX_GEMM1_SPLITS { MAX_GEMM1_SPLITS } else { s };
    if s < 2 { 1 } else { s }
}

/// K splits of GEMM0 on the 128-thread engines (`tasks`: formed row tiles x column tiles;
/// `k_tiles`: the hidden size in 128-byte K tiles), a power of two. At decode a GEMM0 task's
/// time is its chain of K tiles through the ring, not its bytes: E = 8 at T = 128 made 128 tasks
/// of 32 K tiles on 264 blocks, busy 52%, and narrower tasks streaming fewer columns each took
/// as long (perf log v21). Double the splits while the split tasks still fit the grid in one
/// wave, at least [`GEMM1_SPLIT_K_TILES`] K tiles a split, at most [`MAX_GEMM0_SPLITS`]: a
/// second wave costs more than it saves (E = 8, T = 8 and 32, 128 tasks on 264 blocks, ms:
/// 1 split 0.085-0.102, 2 splits 0.079-0.096, 4 splits 0.084-0.100; perf log v22).
pub const fn gemm0_splits(tasks: u32, k_tiles: u32, grid: u32) -> u32 {
    let mut s = 1;
    while s < MAX_GEMM0_SPLITS && tasks as u64 * 2 * s as u64 <= grid as u64 && k_tiles / (2 * s) >= GEMM1_SPLIT_K_TILES {
        s *= 2;
    }
    s
}

/// Rows per expert from which the warp-specialized engine (128x256 tiles) beats the 128-thread
/// one for gated experts, and for all at 128 rows or more, at any expert count. Perf log v18
/// (after the ws vector epilogue), one H200, ws vs wgmma in ms: 128 rows 0.425 vs 0.470
/// (4096/64), 0.243 vs 0.272 (2048/32), gated 0.603 vs 0.670 (4096/64); 256 rows at E = 128
/// 1.508 vs 1.607 (16384/128). Earlier (v12, v14): 1024 rows at H = 4096, I = 14336 6.19 vs 7.56.
/// At 64 rows, gated (perf log v26): 4096/128 1.009 vs 0.978.
pub const WIDE_TILE_ROWS: usize = 128;

/// The same for ungated experts, since the warp-local epilogue (perf log v26, 64 rows, ms, ws vs
/// wgmma): 4096/128 0.683 vs 0.690, 2048/64 0.370 vs 0.385, 1024/32 0.213 vs 0.219 (v18, before
/// it: 4096/128 0.703 vs 0.697).
pub const WIDE_TILE_ROWS_UNGATED: usize = 64;

/// Whether `Mainloop::Auto` takes the warp-specialized engine: enough rows per expert
/// (tokens · k / experts at the layer's maximum T per GPU; with more GPUs each expert gets
/// more) for its wide tiles, and no shared expert (not in its tasks yet). On several GPUs too:
/// two H200s, 8192 tokens per GPU, E = 32, ms: ws 0.660 vs the 128-thread engine 0.829 (perf
/// log v26; v24: 0.670 vs 0.829). (NVSHMEM puts keep the 128-thread engine: the caller's rule.)
pub const fn wide_tiles(tokens: usize, top_k: usize, experts: usize, gated: bool, shared: bool) -> bool {
    !shared && tokens * top_k / experts >= if gated { WIDE_TILE_ROWS } else { WIDE_TILE_ROWS_UNGATED }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashmoe_kernels::layout::Shape;

    #[test]
    fn wide_tiles_for_many_rows_per_expert() {
        for gated in [false, true] {
            assert!(wide_tiles(16384, 2, 32, gated, false));
            assert!(wide_tiles(8192, 2, 64, gated, false));
            assert!(wide_tiles(2048, 2, 32, gated, false));
            assert!(wide_tiles(4096, 2, 64, gated, false));
            assert!(wide_tiles(16384, 2, 128, gated, false));
            assert!(!wide_tiles(128, 2, 64, gated, false));
            assert!(!wide_tiles(16384, 2, 32, gated, true));
        }
        // 64 rows per expert: ungated only.
        assert!(wide_tiles(4096, 2, 128, false, false));
        assert!(!wide_tiles(4096, 2, 128, true, false));
        assert!(wide_tiles(1024, 2, 32, false, false));
        assert!(!wide_tiles(1023, 2, 32, false, false));
        assert!(!wide_tiles(2047, 2, 32, true, false));
    }

    #[test]
    fn gemm0_splits_fill_the_grid_in_powers_of_two() {
        // E = 8 at T = 8..128 (8 row tiles x 16 column tiles, 32 K tiles) on 264 blocks: the
        // splits that fit one wave.
        assert_eq!(gemm0_splits(128, 32, 264), 2);
        assert_eq!(gemm0_splits(132, 32, 264), 2);
        assert_eq!(gemm0_splits(133, 32, 264), 1);
        // T = 1: two experts' 32 tasks, down to 4 K tiles a split.
        assert_eq!(gemm0_splits(32, 32, 264), MAX_GEMM0_SPLITS);
        assert_eq!(gemm0_splits(32, 16, 264), 4);
        // The grid is full (E = 64 at T = 128, Mixtral-size T = 1), or K is too short.
        assert_eq!(gemm0_splits(1024, 32, 264), 1);
        assert_eq!(gemm0_splits(448, 64, 264), 1);
        assert_eq!(gemm0_splits(4, 4, 264), 1);
        assert_eq!(gemm0_splits(0, 32, 264), MAX_GEMM0_SPLITS);
    }

    #[test]
    fn gemm1_splits_fill_the_grid_and_match_gemm0_tasks_at_decode() {
        // Mixtral size (H = 4096: 64 K tiles; I = 14336: 224), T = 1: 2 tiles x 32 column
        // tiles, 4 splits fill the grid; T = 4, up to 8 tiles x 32 fill it already, but each
        // GEMM1 task would stream 3.5x a GEMM0 task's weights: 4 splits.
        assert_eq!(gemm1_splits(64, 224, 64, 265), 4);
        assert_eq!(gemm1_splits(256, 224, 64, 265), 4);
        // H = I = 2048 (32 K tiles), T = 1 at E = 64: 2 x 16 tasks, 8 splits of 4 K tiles; T = 4:
        // up to 8 x 16, 2 splits; T = 128: enough tasks.
        assert_eq!(gemm1_splits(32, 32, 32, 265), 8);
        assert_eq!(gemm1_splits(128, 32, 32, 265), 2);
        assert_eq!(gemm1_splits(1024, 32, 32, 265), 1);
        // Too short a K (H = I = 256: 4 K tiles), or splits that would not fill two K tiles.
        assert_eq!(gemm1_splits(4, 4, 4, 265), 1);
        assert_eq!(gemm1_splits(8, 7, 7, 265), 1);
        assert_eq!(gemm1_splits(1, 1024, 64, 265), MAX_GEMM1_SPLITS);
        assert_eq!(gemm1_splits(0, 224, 64, 265), MAX_GEMM1_SPLITS);
        for tasks in 1..300 {
            for (k, h) in [(224, 64), (32, 32), (64, 224), (12, 4)] {
                let s = gemm1_splits(tasks, k, h, 265);
                assert!((1..=MAX_GEMM1_SPLITS).contains(&s) && (s == 1 || s * GEMM1_SPLIT_K_TILES <= k), "{tasks} {k} {h}: {s}");
                // Both reasons: the grid's share, or GEMM0's task length, whichever wants more.
                let want = (265 / tasks).max(k.div_ceil(h)).min(k / GEMM1_SPLIT_K_TILES).min(MAX_GEMM1_SPLITS);
                assert_eq!(s, want.max(1), "{tasks} {k} {h}");
            }
        }
    }

    /// Wide GEMM0 outputs copy their rows on the warp-specialized engine only: gated I = 2048
    /// and Mixtral-size copy, ungated I = 2048 gathers, the 128-thread engines never copy.
    #[test]
    fn own_rows_are_copied_for_wide_gemm0_outputs_on_the_warp_specialized_engine() {
        assert!(copy_local(true, 2048, true));
        assert!(copy_local(true, 14336, true));
        assert!(copy_local(true, 4096, false));
        assert!(!copy_local(true, 2048, false));
        assert!(!copy_local(true, 1408, true));
        assert!(!copy_local(false, 14336, true));
        assert!(stream_rows(2048, false) && stream_rows(256, true) && stream_rows(512, false));
        assert!(!stream_rows(256, false) && !stream_rows(128, true));
    }

    /// W2 panels of 1 MB and more (I >= 2048 in 16 bits) go out per run, smaller ones per tile.
    #[test]
    fn lean_dense_while_experts_are_left_out_and_one_block_per_sm_fits() {
        // (T, k, E, I) on 132 SMs: 1 + E·I/64 blocks.
        for (t, k, e, i) in [(1, 2, 8, 256), (3, 2, 8, 256), (1, 2, 4, 1024), (1, 2, 8, 1024), (2, 2, 32, 256), (1, 1, 2, 4096)] {
            assert!(lean_dense(t, k, e, i, 132), "{t} {k} {e} {i}");
        }
        // Every expert chosen anyway (T·k >= E), or more blocks than SMs.
        for (t, k, e, i) in [(4, 2, 8, 256), (1, 4, 4, 256), (1, 2, 64, 256), (1, 2, 8, 1088), (1, 2, 256, 64), (1, 2, 33, 256)] {
            assert!(!lean_dense(t, k, e, i, 132), "{t} {k} {e} {i}");
        }
        assert!(!lean_dense(1, 2, 8, 256, 32) && lean_dense(1, 2, 8, 256, 33));
    }

    #[test]
    fn lean_sweep_for_few_rows_an_expert_and_few_bytes() {
        // The measured wins and draws (v37 c1-c2, c4; v39 c2-c9): (T, k, E, H, I, gated).
        for (t, k, e, h, i, g) in [
            (1, 2, 64, 2048, 2048, false),
            (1, 2, 256, 2048, 2048, false),
            (3, 2, 64, 2048, 2048, false),
            (1, 2, 64, 2048, 2048, true),
            (1, 4, 32, 2048, 2048, false),
            (1, 2, 8, 4096, 4096, false),
            (3, 2, 8, 4096, 4096, false),
            (1, 2, 8, 4096, 14336, true),
            (1, 3, 8, 4096, 14336, true),
            (1, 2, 8, 2048, 2048, false),
            (3, 2, 8, 2048, 2048, false),
            (1, 2, 2, 2048, 2048, false),
            (2, 2, 2, 2048, 2048, false),
            (2, 2, 4, 2048, 2048, false),
            (3, 2, 4, 2048, 2048, false),
            (4, 2, 8, 2048, 2048, false),
            (4, 2, 8, 2048, 2048, true),
            (6, 2, 8, 512, 512, false),
            (6, 2, 16, 2048, 2048, false),
            (8, 2, 12, 2048, 2048, false),
            (8, 2, 16, 256, 256, false),
            (8, 2, 16, 1024, 1024, false),
            (8, 2, 64, 1024, 1024, false),
            (8, 2, 32, 512, 512, true),
            // v40: the tensor-core tiles fetching 256 bytes a miss.
            (8, 2, 8, 2048, 2048, false),
            (8, 2, 8, 2048, 2048, true),
            (8, 2, 16, 2048, 2048, false),
            (8, 2, 16, 4096, 4096, false),
            (8, 4, 16, 2048, 2048, false),
        ] {
            assert!(lean_sweep(t, k, e, h, i, g, 2), "{t} {k} {e} {h} {i} {g}");
        }
        // Losses and draws left to the static plan: Mixtral size past 1 GiB (T = 2, 4, 8), more
        // than two rows an expert past three tokens, past 192 MiB where most experts have one
        // row (T = 7, E = 16; T = 8, E = 64), more than eight tokens.
        for (t, k, e, h, i, g) in [
            (2, 2, 8, 4096, 14336, true),
            (4, 2, 8, 4096, 14336, true),
            (8, 2, 8, 4096, 14336, true),
            (8, 2, 4, 2048, 2048, false),
            (8, 2, 64, 2048, 2048, false),
            (7, 2, 16, 2048, 2048, false),
            (9, 2, 64, 256, 256, false),
        ] {
            assert!(!lean_sweep(t, k, e, h, i, g, 2), "{t} {k} {e} {h} {i} {g}");
        }
    }

    #[test]
    fn the_sweep_before_the_items_past_a_few_mib_of_chosen_weights() {
        // (T, k, E, H = I, gated): the sweep won (v37 c6-c7).
        for (t, k, e, h, g) in [(1, 2, 8, 1024, false), (1, 2, 8, 1024, true), (1, 2, 16, 1024, false), (1, 2, 64, 768, false)] {
            assert!(sweep_before_items(t, k, e, h, h, g, 2), "{t} {k} {e} {h} {g}");
        }
        // The items won or tied.
        for (t, k, e, h, g) in [(1, 2, 64, 512, false), (1, 2, 8, 512, true), (1, 2, 256, 256, false), (2, 2, 64, 512, false)] {
            assert!(!sweep_before_items(t, k, e, h, h, g, 2), "{t} {k} {e} {h} {g}");
        }
    }

    #[test]
    fn lean_where_the_reduction_and_the_gate_are_small() {
        // The measured wins (v34 c13, c14), 16 bits: (T, k, E, H = I).
        for (t, k, e, h) in [
            (1, 2, 8, 256),
            (4, 2, 8, 256),
            (1, 2, 256, 256),
            (2, 2, 64, 512),
            (4, 2, 8, 512),
            (4, 2, 64, 512),
            (1, 2, 8, 1024),
            (2, 2, 8, 768),
        ] {
            assert!(lean(t, k, e, h, h, 2), "{t} {k} {e} {h}");
        }
        // The draws and losses.
        for (t, k, e, h) in [(2, 2, 8, 1024), (4, 2, 8, 768), (1, 2, 8, 1536), (1, 2, 8, 2048), (1, 2, 512, 256)] {
            assert!(!lean(t, k, e, h, h, 2), "{t} {k} {e} {h}");
        }
    }

    #[test]
    fn gemm1_runs_from_one_megabyte_w2_panels() {
        assert!(gemm1_runs(14336, 2));
        assert!(gemm1_runs(8192, 2));
        assert!(gemm1_runs(2048, 2));
        assert!(gemm1_runs(4096, 2));
        assert!(!gemm1_runs(1024, 2));
        assert!(!gemm1_runs(512, 2));
    }

    #[test]
    fn dispatch_split() {
        assert_eq!(dispatch_parts(263, 64), 4);
        assert_eq!(dispatch_parts(263, 256), 1);
        assert_eq!(dispatch_parts(10, 64), 1);
        assert_eq!(dispatch_blocks(263, 1), 263);
        assert_eq!(dispatch_blocks(263, 4), 128);
        assert_eq!(dispatch_blocks(20, 4), 20);
    }

    #[test]
    fn the_static_plan_takes_one_gpu_decode_only() {
        // Mixtral-size T = 1 and the tiny layer: one warp routes the token.
        let base = StaticPlanCase {
            world: 1,
            narrow_tiles: true,
            shared_expert: false,
            copies_rows: false,
            dispatch_hook: false,
            tokens: 1,
            top_k: 2,
            experts: 8,
            route_lanes: 32,
        };
        assert!(static_plan(&base));
        // Four tokens fit one block's step with a warp each; five do not.
        assert!(static_plan(&StaticPlanCase { tokens: 4, ..base }));
        assert!(!static_plan(&StaticPlanCase { tokens: 5, ..base }));
        // Narrower lane groups route more tokens per step, up to T·k = 128.
        assert!(static_plan(&StaticPlanCase { tokens: 32, route_lanes: 4, top_k: 4, ..base }));
        assert!(!static_plan(&StaticPlanCase { tokens: 32, route_lanes: 4, top_k: 8, ..base }));
        for off in [
            StaticPlanCase { world: 2, ..base },
            StaticPlanCase { narrow_tiles: false, ..base },
            StaticPlanCase { shared_expert: true, ..base },
            StaticPlanCase { copies_rows: true, ..base },
            StaticPlanCase { dispatch_hook: true, ..base },
            StaticPlanCase { experts: 257, ..base },
        ] {
            assert!(!static_plan(&off), "{off:?}");
        }
    }

    #[test]
    fn gate_splits_fill_the_grid() {
        // Decode: one chunk, 32 K tiles of H = 2048 bf16 -> a split per 4 K tiles.
        assert_eq!(gate_splits(128, 4096, 264), 8);
        assert_eq!(gate_splits(1, 8192, 264), 16);
        assert_eq!(gate_splits(128, 256, 264), 1);
        assert_eq!(gate_splits(8192, 4096, 264), 4);
        assert_eq!(gate_splits(16384, 4096, 264), 2);
        assert_eq!(gate_splits(65536, 4096, 264), 1);
    }

    #[test]
    fn partial_logits_fit_every_token_count_up_to_the_maximum() {
        for max in [1u32, 7, 128, 129, 300, 1000, 8192, 16384, 40000] {
            let s = Shape {
                tokens: max,
                hidden: 2048,
                inter: 512,
                experts: 8,
                top_k: 2,
                capacity: max,
                world: 1,
                elem_bytes: 2,
                gated: false,
                processors: 263,
                shared_inter: 0,
            };
            for t in 1..=max.min(20000) {
                let splits = gate_splits(t, 4096, 264) as u64;
                assert!(splits * t as u64 <= s.gate_logit_rows(), "max {max}, tokens {t}");
            }
        }
    }
}
