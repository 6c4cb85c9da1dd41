//! The launch plan: everything about a layer's launches that the per-forward token count must not
//! move. Region offsets and strides of the symmetric heap and the workspace, the queue size:
//! computed once, at construction, from the configured maximum T, the world size, the largest
//! grid and the tuning. A forward only picks its T, its capacity (the drop rule), its gate split
//! and, from its launch's grid (a layer may have two engines), its dispatch split. Pure
//! functions, CPU-tested; the scratch arena covers the plans of every layer it serves.

use flashmoe_kernels::layout::{self, Bump, HeapLayout, Shape, WorkspaceLayout};

use crate::config::{ConfigError, MoeConfig, capacity};
use crate::heuristics;
use crate::tuning::Tuning;

/// Most task-queue slots a plan may have (queue indices are u32 on the GPU; half leaves room
/// for the reservations past the end that the kernel reports as a fault).
const MAX_QUEUE_SLOTS: u64 = 1 << 31;

/// A layer's launch plan (one per layer; the same on every GPU of it).
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The layout's shape: the configured maximum T and its capacity, the largest grid.
    pub shape: Shape,
    pub heap: HeapLayout,
    pub ws: WorkspaceLayout,
    /// Bytes of one GPU's input (and output) buffer: T_max x H elements.
    pub io_bytes: u64,
    /// Persistent grid of each GPU.
    pub grids: Vec<u32>,
    tuning: Tuning,
    top_k: usize,
    experts: usize,
    capacity_factor: Option<f64>,
}

/// What one forward of `tokens` tokens changes: never an offset or a stride.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    pub tokens: u32,
    /// Rows one (source, expert) pair keeps in this forward: ceil(T·k/E · factor).
    pub capacity: u32,
    /// K splits of the gate GEMM on the GPU asked for (they follow its grid).
    pub gate_splits: u32,
    /// Lanes that route one token on that GPU (`layout::route_lanes`).
    pub route_lanes: u32,
    /// K splits of each routed GEMM1 task on the 128-thread engines.
    pub gemm1_splits: u32,
    /// K splits of each routed GEMM0 task on the 128-thread engines (a power of two).
    pub gemm0_splits: u32,
}

impl Plan {
    /// The plan of `cfg` over GPUs with these persistent grids (one per GPU, processors + 1).
    pub fn new(cfg: &MoeConfig, grids: &[u32], tuning: &Tuning) -> Result<Plan, ConfigError> {
        let world = grids.len();
        cfg.validate(world)?;
        let most = grids.iter().copied().max().unwrap_or(0);
        if most < 2 {
            return Err(ConfigError::Zero("processor blocks"));
        }
        let shape = Shape {
            tokens: cfg.tokens as u32,
            hidden: cfg.hidden as u32,
            inter: cfg.inter as u32,
            experts: cfg.experts as u32,
            top_k: cfg.top_k as u32,
            capacity: cfg.capacity() as u32,
            world: world as u32,
            elem_bytes: cfg.dtype.bytes(),
            gated: cfg.gated,
            processors: most - 1,
            shared_inter: cfg.shared.map_or(0, |s| s.inter as u32),
        };
        // The validated bounds (T < 2^24, H and I <= 2^16, E <= 256, k <= 8, G <= 8) keep every
        // size below 2^51 bytes, so the layouts cannot overflow; the queue index is u32.
        if shape.queue_slots() > MAX_QUEUE_SLOTS {
            return Err(ConfigError::TooLarge { what: "task queue slots", value: shape.queue_slots(), max: MAX_QUEUE_SLOTS });
        }
        if shape.returns_bound() > u32::MAX as u64 {
            let what = "rows returned per forward (rows x GEMM1 column tiles)";
            return Err(ConfigError::TooLarge { what, value: shape.returns_bound(), max: u32::MAX as u64 });
        }
        Ok(Plan {
            heap: layout::heap_layout(&shape),
            ws: layout::workspace_layout(&shape),
            io_bytes: cfg.tokens as u64 * cfg.hidden as u64 * cfg.dtype.bytes() as u64,
            grids: grids.to_vec(),
            tuning: tuning.clone(),
            top_k: cfg.top_k,
            experts: cfg.experts,
            capacity_factor: cfg.capacity_factor,
            shape,
        })
    }

    /// Slots per (source, local expert) pair in every region: the largest forward's capacity.
    pub fn slot_stride(&self) -> u32 {
        self.shape.capacity
    }

    /// Dispatch flags per pair.
    pub fn tile_stride(&self) -> u32 {
        self.shape.tiles_per_pair()
    }

    /// The forward of `tokens` tokens on GPU `rank`: T = 0 and T above the maximum are errors.
    pub fn forward(&self, rank: usize, tokens: usize) -> Result<Forward, ConfigError> {
        self.forward_on(tokens, self.grids.get(rank).copied().unwrap_or(0))
    }

    /// Dispatch blocks and how many share an expert for a launch of `grid` blocks (at most the
    /// plan's grid for its GPU: a layer with two engines launches the smaller grid too).
    pub fn dispatch_on(&self, grid: u32) -> (u32, u32) {
        dispatch_split(&self.tuning, grid, self.shape.world, self.shape.experts)
    }

    /// [`Self::forward`] on a launch of `grid` blocks.
    pub fn forward_on(&self, tokens: usize, grid: u32) -> Result<Forward, ConfigError> {
        if tokens == 0 {
            return Err(ConfigError::Zero("tokens"));
        }
        if tokens > self.shape.tokens as usize {
            return Err(ConfigError::TokensAboveMax(tokens, self.shape.tokens as usize));
        }
        let k_bytes = self.shape.hidden * self.shape.elem_bytes;
        let splits = self.tuning.gate_splits.unwrap_or_else(|| heuristics::gate_splits(tokens as u32, k_bytes, grid));
        // At most one split per K tile, and as many as the partial-logit region holds for this T.
        let most = (k_bytes / layout::TILE_K_BYTES).min(layout::MAX_GATE_SPLITS).min((self.shape.gate_logit_rows() / tokens as u64) as u32);
        let capacity = capacity(tokens, self.top_k, self.experts, self.capacity_factor) as u32;
        Ok(Forward {
            tokens: tokens as u32,
            capacity,
            gate_splits: splits.clamp(1, most.max(1)),
            route_lanes: layout::route_lanes(self.experts as u32, self.top_k as u32, tokens as u32, grid),
            gemm1_splits: self.gemm1_splits(tokens as u32, capacity, grid),
            gemm0_splits: self.gemm0_splits(tokens as u32, capacity, grid),
        })
    }

    /// The row tiles a forward can form (at least 1), and how many of its K-split partials each
    /// GEMM's half of the partial region holds: partials of this forward's size, at most its split
    /// tasks.
    fn split_budget(&self, tokens: u32, capacity: u32) -> (u64, u64) {
        let s = &self.shape;
        let launch_tiles = s.pairs() * layout::row_tiles(capacity);
        let tiles = layout::formed_tiles_bound(launch_tiles, s.world, tokens, s.top_k).max(1) as u64;
        let partials = s.gemm1_partial_slots() * layout::GEMM1_PARTIAL_BYTES / layout::gemm1_partial_bytes(s.world, tokens);
        (tiles, partials.min(s.gemm1_split_tasks()))
    }

    /// GEMM0's K splits for a forward: the heuristic (or the tuning's value, rounded down to a
    /// power of two), within GEMM0's half of the partial slots and split counts for the row
    /// tiles this forward can form; 1 with a shared expert.
    fn gemm0_splits(&self, tokens: u32, capacity: u32, grid: u32) -> u32 {
        let s = &self.shape;
        if s.shared_inter != 0 {
            return 1;
        }
        let (tiles, partials) = self.split_budget(tokens, capacity);
        let n0 = layout::gemm0_tiles(s.inter, s.gated, layout::TILE_N) as u64;
        let k_tiles = s.hidden * s.elem_bytes / layout::TILE_K_BYTES;
        let by_slots = (partials / (tiles * n0)).min(k_tiles as u64) as u32;
        let want = self.tuning.gemm0_splits.unwrap_or_else(|| heuristics::gemm0_splits((tiles * n0) as u32, k_tiles, grid));
        let s = want.min(by_slots).clamp(1, layout::MAX_GEMM0_SPLITS);
        1 << s.ilog2()
    }

    /// GEMM1's K splits for a forward: the heuristic (or the tuning's value), within what the
    /// partial slots hold for the row tiles this forward can form, 1 with a shared expert.
    fn gemm1_splits(&self, tokens: u32, capacity: u32, grid: u32) -> u32 {
        let s = &self.shape;
        if s.shared_inter != 0 {
            return 1;
        }
        let (tiles, partials) = self.split_budget(tokens, capacity);
        let n1 = layout::gemm1_tiles(s.hidden, layout::TILE_N) as u64;
        let k_tiles = s.inter * s.elem_bytes / layout::TILE_K_BYTES;
        let by_slots = (partials / (tiles * n1)).min(k_tiles as u64) as u32;
        let gemm0_k_tiles = s.hidden * s.elem_bytes / layout::TILE_K_BYTES;
        let want = self.tuning.gemm1_splits.unwrap_or_else(|| heuristics::gemm1_splits((tiles * n1) as u32, k_tiles, gemm0_k_tiles, grid));
        want.min(by_slots).clamp(1, layout::MAX_GEMM1_SPLITS)
    }
}

/// Dispatch blocks of a grid (processors + 1 blocks, at least 2) and how many share an expert:
/// the tuning's count or the heuristic, within the processors.
fn dispatch_split(tuning: &Tuning, grid: u32, world: u32, experts: u32) -> (u32, u32) {
    let processors = grid.saturating_sub(1).max(1);
    let blocks = tuning.dispatch_blocks.unwrap_or_else(|| heuristics::dispatch_blocks(processors, world)).clamp(1, processors);
    (blocks, heuristics::dispatch_parts(blocks, experts))
}

/// Region sizes of a heap layout, in order (each a multiple of 256 bytes, so re-bumping them
/// gives the same offsets).
fn heap_sizes(h: &HeapLayout) -> [u64; 5] {
    [
        h.dispatch_flags - h.control,
        h.dispatch_meta - h.dispatch_flags,
        h.dispatch_rows - h.dispatch_meta,
        h.combine_slots - h.dispatch_rows,
        h.bytes - h.combine_slots,
    ]
}

fn heap_from_sizes(s: [u64; 5]) -> HeapLayout {
    let mut b = Bump::new();
    HeapLayout {
        control: b.take(s[0]),
        dispatch_flags: b.take(s[1]),
        dispatch_meta: b.take(s[2]),
        dispatch_rows: b.take(s[3]),
        combine_slots: b.take(s[4]),
        bytes: b.total(),
    }
}

fn ws_sizes(w: &WorkspaceLayout) -> [u64; 12] {
    [
        w.topk_expert - w.logits,
        w.topk_weight - w.topk_expert,
        w.route_slot - w.topk_weight,
        w.chunk_counts - w.route_slot,
        w.staging - w.chunk_counts,
        w.shared_staging - w.staging,
        w.tiles - w.shared_staging,
        w.gemm0_done - w.tiles,
        w.gemm1_partials - w.gemm0_done,
        w.gemm1_split_done - w.gemm1_partials,
        w.queue - w.gemm1_split_done,
        w.bytes - w.queue,
    ]
}

fn ws_from_sizes(s: [u64; 12], queue_slots: u64) -> WorkspaceLayout {
    let mut b = Bump::new();
    WorkspaceLayout {
        logits: b.take(s[0]),
        topk_expert: b.take(s[1]),
        topk_weight: b.take(s[2]),
        route_slot: b.take(s[3]),
        chunk_counts: b.take(s[4]),
        staging: b.take(s[5]),
        shared_staging: b.take(s[6]),
        tiles: b.take(s[7]),
        gemm0_done: b.take(s[8]),
        gemm1_partials: b.take(s[9]),
        gemm1_split_done: b.take(s[10]),
        queue: b.take(s[11]),
        queue_slots,
        bytes: b.total(),
    }
}

/// The layout of a scratch arena that serves several plans: every region at one fixed offset,
/// as large as the largest plan's. Words whose validity is their epoch (dispatch flags, task
/// stamps, control words) thus always sit where every layer expects that kind of word, so an old
/// word of another layer can only hold an older epoch, never a stray value that reads as current.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArenaLayout {
    pub heap: HeapLayout,
    pub ws: WorkspaceLayout,
    pub io_bytes: u64,
}

impl ArenaLayout {
    /// The layout of one plan.
    pub fn of(plan: &Plan) -> ArenaLayout {
        ArenaLayout { heap: plan.heap, ws: plan.ws, io_bytes: plan.io_bytes }
    }

    /// The smallest layout that serves both (region by region).
    pub fn cover(&self, other: &ArenaLayout) -> ArenaLayout {
        let max = |a: &[u64], b: &[u64], out: &mut [u64]| {
            for i in 0..out.len() {
                out[i] = a[i].max(b[i]);
            }
        };
        let (mut h, mut w) = ([0; 5], [0; 12]);
        max(&heap_sizes(&self.heap), &heap_sizes(&other.heap), &mut h);
        max(&ws_sizes(&self.ws), &ws_sizes(&other.ws), &mut w);
        ArenaLayout {
            heap: heap_from_sizes(h),
            ws: ws_from_sizes(w, self.ws.queue_slots.max(other.ws.queue_slots)),
            io_bytes: self.io_bytes.max(other.io_bytes),
        }
    }

    /// Whether `self` serves `plan` as laid out (every region of the plan fits its arena region).
    pub fn serves(&self, plan: &Plan) -> bool {
        self.cover(&ArenaLayout::of(plan)) == *self
    }

    /// The regions whose words are valid by epoch (cleared when the epoch wraps): (heap offset,
    /// bytes) of the control block and the dispatch flags, (workspace offset, bytes) of the queue.
    pub fn epoch_regions(&self) -> ((u64, u64), (u64, u64)) {
        ((self.heap.control, self.heap.dispatch_meta - self.heap.control), (self.ws.queue, self.ws.bytes - self.ws.queue))
    }

    /// Bytes one GPU holds: heap, workspace, input and output.
    pub fn bytes_per_gpu(&self) -> u64 {
        self.heap.bytes + self.ws.bytes + 2 * self.io_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DType;

    #[test]
    fn a_smaller_launch_takes_its_own_dispatch_split_and_forward() {
        let t = Tuning::default();
        let plan = Plan::new(&MoeConfig { tokens: 4096, ..cfg() }, &[264], &t).unwrap();
        for tokens in [1, 7, 300, 4096] {
            assert_eq!(plan.forward_on(tokens, 264).unwrap(), plan.forward(0, tokens).unwrap());
        }
        // The warp-specialized grid of the same GPU (one block per SM): fewer dispatchers.
        let ((blocks, parts), (wide_blocks, _)) = (plan.dispatch_on(132), plan.dispatch_on(264));
        assert!((1..=131).contains(&blocks) && parts >= 1 && blocks <= wide_blocks);
        assert!(plan.forward_on(0, 132).is_err() && plan.forward_on(4097, 132).is_err());
        // A degenerate grid never panics.
        assert_eq!(plan.dispatch_on(1).0, 1);
    }

    fn cfg() -> MoeConfig {
        MoeConfig { tokens: 1000, hidden: 256, inter: 512, experts: 8, top_k: 2, ..MoeConfig::default() }
    }

    #[test]
    fn shapes_whose_returned_rows_count_would_wrap_are_refused() {
        // 2^24 - 1 tokens x 9 slots x 512 column tiles of H = 65536: 7.7e10 > u32::MAX.
        let big = MoeConfig { tokens: (1 << 24) - 1, hidden: 1 << 16, top_k: 8, experts: 8, ..cfg() };
        match Plan::new(&big, &[133], &Tuning::default()) {
            Err(ConfigError::TooLarge { what, value, max }) => {
                assert!(what.starts_with("rows returned"), "{what}");
                assert!(value > max && max == u32::MAX as u64);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        // 16384 tokens, k = 2, H = 2048: 16384 x 2 x 16 = 524288 counts, far below.
        let fine = MoeConfig { tokens: 16384, hidden: 2048, ..cfg() };
        assert!(Plan::new(&fine, &[133], &Tuning::default()).unwrap().shape.returns_bound() < 1 << 20);
    }

    #[test]
    fn offsets_and_strides_do_not_depend_on_the_forward() {
        let plan = Plan::new(&cfg(), &[133, 133], &Tuning::default()).unwrap();
        let first = plan.clone();
        let (mut last_cap, mut caps) = (0, 0);
        for t in 1..=1000 {
            let f = plan.forward(1, t).unwrap();
            assert!(f.capacity <= plan.slot_stride(), "T {t}: capacity {} above stride {}", f.capacity, plan.slot_stride());
            assert!(layout::row_tiles(f.capacity) <= plan.tile_stride());
            assert!(f.gate_splits as u64 * t as u64 <= plan.shape.gate_logit_rows());
            caps += (f.capacity != last_cap) as u32;
            last_cap = f.capacity;
        }
        assert!(caps > 100, "the capacity follows T");
        assert_eq!(plan, first, "nothing a forward computes changes the plan");
        assert_eq!(plan.slot_stride(), 250);
        assert_eq!(plan.tile_stride(), 2);
    }

    #[test]
    fn forwards_outside_the_plan_are_errors() {
        let plan = Plan::new(&cfg(), &[133], &Tuning::default()).unwrap();
        assert_eq!(plan.forward(0, 0), Err(ConfigError::Zero("tokens")));
        assert_eq!(plan.forward(0, 1001), Err(ConfigError::TokensAboveMax(1001, 1000)));
        assert!(Plan::new(&MoeConfig { tokens: 0, ..cfg() }, &[133], &Tuning::default()).is_err());
        assert!(Plan::new(&cfg(), &[1], &Tuning::default()).is_err());
    }

    #[test]
    fn the_largest_valid_shape_lays_out_without_overflow_or_is_rejected() {
        let huge = MoeConfig {
            tokens: (1 << 24) - 1,
            hidden: 1 << 16,
            inter: 1 << 16,
            experts: 256,
            top_k: 8,
            capacity_factor: None,
            gated: true,
            dtype: DType::F32,
            ..MoeConfig::default()
        };
        match Plan::new(&huge, &[264; 8], &Tuning::default()) {
            Err(ConfigError::TooLarge { what, .. }) => assert_eq!(what, "task queue slots"),
            other => panic!("expected the queue bound, got {other:?}"),
        }
        // Under the queue bound, the returned-rows count bounds T (2^24 - 1 tokens at H = 2^16
        // and k = 8 count 7.7e10); below both, the largest sizes still fit in u64 (debug builds
        // check overflow).
        let big = MoeConfig { tokens: (1 << 24) - 1, hidden: 1 << 16, inter: 1 << 16, experts: 8, top_k: 8, ..huge };
        match Plan::new(&big, &[264; 8], &Tuning::default()) {
            Err(ConfigError::TooLarge { what, .. }) => assert!(what.starts_with("rows returned"), "{what}"),
            other => panic!("expected the returned-rows bound, got {other:?}"),
        }
        let big = MoeConfig { tokens: 900_000, ..big };
        let plan = Plan::new(&big, &[264; 8], &Tuning::default()).unwrap();
        assert!(plan.heap.bytes > 1 << 40 && plan.ws.bytes > 1 << 40);
        assert!(Plan::new(&MoeConfig { hidden: 1 << 17, ..big }, &[264], &Tuning::default()).is_err());
    }

    #[test]
    fn an_arena_covers_every_plan_region_by_region() {
        let a = Plan::new(&cfg(), &[133], &Tuning::default()).unwrap();
        let b = Plan::new(&MoeConfig { hidden: 1024, experts: 64, tokens: 300, ..cfg() }, &[133], &Tuning::default()).unwrap();
        let arena = ArenaLayout::of(&a).cover(&ArenaLayout::of(&b));
        assert!(arena.serves(&a) && arena.serves(&b));
        assert!(!ArenaLayout::of(&a).serves(&b));
        assert_eq!(arena.cover(&ArenaLayout::of(&a)), arena);
        for (x, y) in heap_sizes(&arena.heap).iter().zip(heap_sizes(&a.heap).iter().zip(heap_sizes(&b.heap))) {
            assert_eq!(*x, (*y.0).max(y.1));
        }
        // Regions stay 256-byte aligned and in order.
        let h = arena.heap;
        for w in [h.control, h.dispatch_flags, h.dispatch_meta, h.dispatch_rows, h.combine_slots, h.bytes].windows(2) {
            assert!(w[0] <= w[1] && w[1] % 256 == 0);
        }
        assert_eq!(arena.ws.queue_slots, a.ws.queue_slots.max(b.ws.queue_slots));
        assert_eq!(ArenaLayout::of(&a).cover(&ArenaLayout::of(&a)), ArenaLayout::of(&a));
        let ((c, cb), (q, qb)) = arena.epoch_regions();
        assert_eq!((c, c + cb), (0, h.dispatch_meta));
        assert_eq!(q + qb, arena.ws.bytes);
    }

    #[test]
    fn a_shared_expert_sizes_its_tiles_slots_staging_and_queue() {
        use crate::config::SharedExpert;
        let plain = Plan::new(&cfg(), &[133, 133], &Tuning::default()).unwrap();
        let shared = MoeConfig { shared: Some(SharedExpert { inter: 320, sigmoid_gate: true }), ..cfg() };
        let plan = Plan::new(&shared, &[133, 133], &Tuning::default()).unwrap();
        assert_eq!(plan.shape.shared_inter, 320);
        assert_eq!((plain.shape.combine_stride(), plan.shape.combine_stride()), (2, 3));
        assert_eq!(plan.heap.bytes - plan.heap.combine_slots, 1000 * 3 * 256 * 2);
        assert_eq!(plan.ws.tiles - plan.ws.shared_staging, 1000 * 320 * 2);
        // 8 shared row tiles of 1000 tokens, each 320 / 64 = 5 GEMM0 and 256 / 128 = 2 GEMM1 tasks.
        assert_eq!(plan.ws.queue_slots, plain.ws.queue_slots + 8 * (5 + 2));
        // An arena serving both keeps every region at one offset, the larger size each.
        let arena = ArenaLayout::of(&plain).cover(&ArenaLayout::of(&plan));
        assert!(arena.serves(&plain) && arena.serves(&plan));
        assert_eq!(arena.ws.tiles - arena.ws.shared_staging, 1000 * 320 * 2);
        assert_eq!(ArenaLayout::of(&plain).ws.shared_staging, ArenaLayout::of(&plain).ws.tiles);
    }

    #[test]
    fn tuning_overrides_are_clamped() {
        let t = Tuning { dispatch_blocks: Some(10_000), gate_splits: Some(99), ..Tuning::default() };
        let plan = Plan::new(&cfg(), &[133], &t).unwrap();
        assert_eq!(plan.dispatch_on(133).0, 132);
        assert_eq!(plan.forward(0, 5).unwrap().gate_splits, 4); // H = 256 bf16: 4 K tiles
        let wide = Plan::new(&MoeConfig { tokens: 8192, hidden: 2048, ..cfg() }, &[264], &t).unwrap();
        // 8 splits x 8192 tokens would overrun the partial logits sized for 264 blocks.
        let f = wide.forward(0, 8192).unwrap();
        assert!(f.gate_splits as u64 * 8192 <= wide.shape.gate_logit_rows() && f.gate_splits >= 1);
    }

    #[test]
    fn gemm1_splits_at_decode_within_the_partial_slots() {
        let mixtral =
            MoeConfig { tokens: 4096, hidden: 4096, inter: 14336, experts: 8, top_k: 2, gated: true, capacity_factor: None, ..cfg() };
        let plan = Plan::new(&mixtral, &[265], &Tuning::default()).unwrap();
        // T = 1: 2 row tiles x 32 column tiles; large T: enough tasks already.
        assert_eq!(plan.forward(0, 1).unwrap().gemm1_splits, 4);
        assert_eq!(plan.forward(0, 4096).unwrap().gemm1_splits, 1);
        // A forced count is held to the split tasks and the partials of the forward's size: at
        // T = 1 (one-row partials) 2 x 32 x 16 fit; 4096 tokens form up to 8 x 32 tiles of full
        // partials, more than the grid's.
        for (want, t1) in [(8, 8), (16, 16), (64, 16)] {
            let forced = Plan::new(&mixtral, &[265], &Tuning { gemm1_splits: Some(want), ..Tuning::default() }).unwrap();
            let f = forced.forward(0, 1).unwrap();
            assert_eq!(f.gemm1_splits, t1, "forced {want}");
            assert!(2 * 32 * f.gemm1_splits as u64 <= forced.shape.gemm1_split_tasks());
            assert!(
                2 * 32 * f.gemm1_splits as u64 * layout::gemm1_partial_bytes(1, 1)
                    <= forced.shape.gemm1_partial_slots() * layout::GEMM1_PARTIAL_BYTES
            );
            assert_eq!(forced.forward(0, 4096).unwrap().gemm1_splits, 1);
            // T = 64: up to 8 row tiles x 32 column tiles; partials of 64 rows, 2 x 265 of them.
            assert_eq!(forced.forward(0, 64).unwrap().gemm1_splits, 2);
        }
        // No splits with a shared expert.
        let shared = MoeConfig { shared: Some(crate::SharedExpert { inter: 1024, sigmoid_gate: false }), ..mixtral };
        assert_eq!(Plan::new(&shared, &[265], &Tuning::default()).unwrap().forward(0, 1).unwrap().gemm1_splits, 1);
    }

    #[test]
    fn gemm0_splits_at_decode_within_their_half_of_the_partial_slots() {
        let e8 = MoeConfig { tokens: 256, hidden: 2048, inter: 2048, experts: 8, top_k: 2, capacity_factor: None, ..cfg() };
        let plan = Plan::new(&e8, &[264], &Tuning::default()).unwrap();
        // T = 1: 2 row tiles x 16 column tiles, one-row partials: 8 splits of 4 K tiles.
        assert_eq!(plan.forward(0, 1).unwrap().gemm0_splits, 8);
        // T = 128: 8 x 16 tasks of full-size partials, 264 of which fit GEMM0's half: 2 splits.
        assert_eq!(plan.forward(0, 128).unwrap().gemm0_splits, 2);
        // A forced count is a power of two, held to the slots; prefill never splits.
        for (want, t1, t128) in [(3, 2, 2), (8, 8, 2), (64, 8, 2), (1, 1, 1)] {
            let forced = Plan::new(&e8, &[264], &Tuning { gemm0_splits: Some(want), ..Tuning::default() }).unwrap();
            assert_eq!(forced.forward(0, 1).unwrap().gemm0_splits, t1, "forced {want}");
            assert_eq!(forced.forward(0, 128).unwrap().gemm0_splits, t128, "forced {want}");
        }
        let prefill = Plan::new(&MoeConfig { tokens: 16384, ..e8 }, &[264], &Tuning::default()).unwrap();
        assert_eq!(prefill.forward(0, 16384).unwrap().gemm0_splits, 1);
        // Mixtral-size T = 1 has 448 GEMM0 tasks: no split.
        let mixtral =
            MoeConfig { tokens: 4096, hidden: 4096, inter: 14336, experts: 8, top_k: 2, gated: true, capacity_factor: None, ..cfg() };
        assert_eq!(Plan::new(&mixtral, &[265], &Tuning::default()).unwrap().forward(0, 1).unwrap().gemm0_splits, 1);
    }

    #[test]
    fn routing_lanes_follow_the_forward() {
        let plan = Plan::new(&MoeConfig { tokens: 16384, experts: 32, top_k: 2, ..cfg() }, &[133], &Tuning::default()).unwrap();
        // Decode: a warp per token; large T: four lanes hold a token's 32 logits.
        assert_eq!(plan.forward(0, 128).unwrap().route_lanes, 32);
        assert_eq!(plan.forward(0, 16384).unwrap().route_lanes, 4);
    }
}
