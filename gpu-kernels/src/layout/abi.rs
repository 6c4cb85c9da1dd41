//! The `#[repr(C)]` structs the host fills and the kernels read (launch parameters, control
//! block, task, row tile, error record) and the constants that size them. Their sizes are
//! asserted: both sides compile this one definition.

/// Most GPUs a layer spans (one node).
pub const MAX_WORLD: usize = 8;
/// Most experts a layer may have (expert ids travel as bytes).
pub const MAX_EXPERTS: u32 = 256;
/// Largest top-k.
pub const MAX_TOP_K: u32 = 8;
/// Threads of every block of the persistent kernel (4 warps).
pub const BLOCK_THREADS: u32 = 128;
/// Rows of a GEMM tile (tokens of an expert's row tile, tokens of a gate chunk).
pub const TILE_M: u32 = 128;
/// Columns of a GEMM output tile (gated GEMM0 tiles produce half of it, see [`gemm0_tile_cols`](super::gemm0_tile_cols)).
pub const TILE_N: u32 = 128;
/// K extent of one pipeline stage, in bytes: 64 bf16/f16 or 32 f32 elements.
pub const TILE_K_BYTES: u32 = 128;
/// cp.async pipeline depth. 3 x 32 KiB keeps two blocks of 128 threads on one SM.
pub const PIPELINE_STAGES: u32 = 3;
/// Shared memory of the GEMM pipeline (A and B tiles per stage).
pub const PIPELINE_BYTES: u32 = PIPELINE_STAGES * 2 * TILE_M * TILE_K_BYTES;
/// Shared memory after the pipeline: the launch parameters, role words, two 128-entry row
/// address tables (GEMM operand rows gathered from several regions, and output rows), then a
/// processor's deferred failure.
pub const AUX_BYTES: u32 = 640 + 2 * 128 * 8 + 32;
/// Dynamic shared memory per block.
pub const SHARED_BYTES: u32 = PIPELINE_BYTES + AUX_BYTES;
/// Threads of a warp-specialized block (sm_90a): a producer warpgroup (the roles before the
/// GEMMs, then the loads) and two consumer warpgroups (wgmma, epilogue).
pub const WS_THREADS: u32 = 384;
/// Output columns of a warp-specialized block's tile (128 x 256: each consumer warpgroup runs
/// wgmma m64n256 on 64 of its rows).
pub const WS_TILE_N: u32 = 256;
/// Pipeline depth of a warp-specialized block.
pub const WS_STAGES: u32 = 4;
/// One stage: A [128 rows][128 B], then B [256 rows][128 B] (`gemm::mainloop::WsStage`).
pub const WS_STAGE_BYTES: u32 = (TILE_M + WS_TILE_N) * TILE_K_BYTES;
/// Where a warp-specialized block's own shared memory starts: after the aux region, 1024-aligned
/// (swizzled operand tiles). Stages 0 and 1 fill the 128-thread pipeline's memory before it.
pub const WS_TAIL: u32 = SHARED_BYTES.next_multiple_of(1024);
const _: () = assert!(2 * WS_STAGE_BYTES <= PIPELINE_BYTES && WS_STAGE_BYTES.is_multiple_of(1024));
/// A warp-specialized block's barriers, task slots, output row tables and words, after its
/// last two stages.
pub const WS_AUX_BYTES: u32 = 128 + 128 + 2 * TILE_M * 8 + 32 + 16 + 16 + 16 + 4 * TASK_CLOCK_WORDS;
/// Consumer 0's task clock (`smem::ws::Block::task_clock`): the running task's start and kind,
/// then mainloop ns, epilogue ns, `finish` ns and count for each of `timeline::TASK_KINDS`
/// (16-byte words: the epilogue staging after it takes vector accesses).
pub const TASK_CLOCK_WORDS: u32 = (2 + 4 * timeline::TASK_KINDS as u32).next_multiple_of(4);
/// A consumer's epilogue staging: 64 rows of 32 f32 (+ 16 bytes of padding).
pub const WS_STAGING_BYTES: u32 = 64 * (32 * 4 + 16);
/// Dynamic shared memory of a warp-specialized block.
pub const WS_SHARED_BYTES: u32 = WS_TAIL + (WS_STAGES - 2) * WS_STAGE_BYTES + WS_AUX_BYTES + 2 * WS_STAGING_BYTES;
const _: () = assert!(WS_SHARED_BYTES <= 227 * 1024);
/// The boxes of the weights' TMA maps (`MoeParams::w_maps`): one stage's K slice of 64 16-bit
/// elements by a whole B tile (256 rows), or by half of one when gated (W1's 128 rows, then
/// W3's).
pub const WEIGHT_BOX_COLS: u32 = TILE_K_BYTES / 2;
pub const WEIGHT_BOX_ROWS: u32 = WS_TILE_N;
pub const GATED_BOX_ROWS: u32 = WS_TILE_N / 2;
/// Most rows the staging region's TMA map describes (box coordinates are s32); GEMM1 reads the
/// rows of a larger region, or of one smaller than a box, by cp.async.
pub const STAGING_MAP_ROWS: u32 = i32::MAX as u32;
/// Tokens per combine task.
pub const COMBINE_TOKENS: u32 = 32;
/// Row granularity of hidden / intermediate sizes (one 16-byte vector of f32 x 16 threads).
pub const DIM_MULTIPLE: u32 = 64;
/// Most (source, slot range) segments one merged row tile holds: one partial tile per source.
pub const MAX_SEGMENTS: usize = MAX_WORLD;
/// Most blocks that dispatch rows to peers (enough to fill NVLink; the rest start GEMMs at once).
pub const MAX_DISPATCH_BLOCKS: u32 = 128;
/// Element type of activations and weights. Accumulation is always f32.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// bfloat16 operands on mma.sync m16n8k16.
    Bf16 = 0,
    /// IEEE half operands on mma.sync m16n8k16.
    F16 = 1,
    /// f32 storage; GEMMs on tf32 tensor cores (m16n8k8, operands rounded to 10 mantissa bits).
    F32 = 2,
}

impl DType {
    /// Bytes per element.
    pub const fn bytes(self) -> u32 {
        match self {
            DType::Bf16 | DType::F16 => 2,
            DType::F32 => 4,
        }
    }

    /// Decodes the `dtype` word of [`MoeParams`].
    pub const fn from_u32(v: u32) -> Option<DType> {
        match v {
            0 => Some(DType::Bf16),
            1 => Some(DType::F16),
            2 => Some(DType::F32),
            _ => None,
        }
    }
}

/// The `activation` word of [`MoeParams`]: the expert activation applied to x·W1 (+b1); gated
/// experts multiply it by x·W3 (+b3). The host's `flashmoe::Activation` carries the parameters.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActivationKind {
    Relu = 0,
    /// The exact (erf) form: x/2 · (1 + erf(x/√2)).
    Gelu = 1,
    /// x · sigmoid(x); with `gated` this is SwiGLU.
    Silu = 2,
    /// GPT-OSS's clamped SwiGLU (gated only): g = min(x·W1 + b1, limit),
    /// u = clamp(x·W3 + b3, -limit, limit), out = g · sigmoid(alpha · g) · (u + 1), with
    /// [`MoeParams::act_alpha`] and [`MoeParams::act_limit`] (the kernel runs SiLU with those
    /// parameters, and adds 1 to the up projection only for this kind).
    ClampedSwiglu = 3,
}

impl ActivationKind {
    /// Decodes the `activation` word of [`MoeParams`].
    pub const fn from_u32(v: u32) -> Option<ActivationKind> {
        match v {
            0 => Some(ActivationKind::Relu),
            1 => Some(ActivationKind::Gelu),
            2 => Some(ActivationKind::Silu),
            3 => Some(ActivationKind::ClampedSwiglu),
            _ => None,
        }
    }
}

/// The `router` word of [`MoeParams`]: how a token's gate logits become its k experts and their
/// weights (the host's `flashmoe::Router` carries the parameters; `flashmoe::reference` defines
/// each exactly).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouterKind {
    /// Softmax of the logits (plus the router bias with [`flags::ROUTER_BIAS`]), top-k by logit,
    /// weights optionally renormalised ([`flags::RENORMALIZE`]).
    Softmax = 0,
    /// DeepSeek-V3's `noaux_tc`: s = sigmoid(l), choice keys s + [`MoeParams::score_bias`], the
    /// [`MoeParams::topk_groups`] best of [`MoeParams::groups`] groups (each scored by its two
    /// best keys), top-k of the keys inside them; weights the unbiased s, optionally
    /// renormalised, times [`MoeParams::routed_scaling`].
    GroupedSigmoid = 1,
    /// Llama-4: top-k by logit; the routing weight sigmoid(l_j) scales the expert's input
    /// (dispatch copies every routed row scaled, this GPU's own too: see
    /// [`MoeParams::copy_local`]) and combine adds the output with weight 1.
    SigmoidScaledInput = 2,
}

impl RouterKind {
    /// Decodes the `router` word of [`MoeParams`].
    pub const fn from_u32(v: u32) -> Option<RouterKind> {
        match v {
            0 => Some(RouterKind::Softmax),
            1 => Some(RouterKind::GroupedSigmoid),
            2 => Some(RouterKind::SigmoidScaledInput),
            _ => None,
        }
    }
}

/// Bits of [`MoeParams::flags`].
pub mod flags {
    /// Experts are gated: act(x·W1 + b1) * (x·W3 + b3).
    pub const GATED: u32 = 1;
    /// b1 (and b3) and b2 are present.
    pub const BIAS: u32 = 2;
    /// The k routing weights of a token are divided by their sum.
    pub const RENORMALIZE: u32 = 4;
    /// Copy rows routed to this GPU's own experts into the dispatch region too (the host's
    /// `heuristics::copy_local`: the warp-specialized GEMM0 then reads them by TMA; otherwise
    /// GEMM0 gathers them from the input; [`super::RouterKind::SigmoidScaledInput`] copies them
    /// whatever this bit, see [`super::MoeParams::copy_local`]).
    pub const COPY_LOCAL: u32 = 8;
    /// The router adds `gate_b` (one value per expert, the layer's dtype) to the summed logits
    /// before softmax and top-k (GPT-OSS).
    pub const ROUTER_BIAS: u32 = 16;
    /// Tiles of [`super::WS_TILE_N`] output columns (the warp-specialized engine), else
    /// [`super::TILE_N`]: the task counts of every role follow (`layout::gemm0_tiles`).
    pub const WIDE_TILES: u32 = 32;
    /// This forward runs the static decode plan (`layout::static_plan`, docs/decode-plan.md):
    /// every block routes the few tokens itself and derives the same task list, with no second
    /// grid barrier, dispatch or OS block. One GPU, the 128-thread engines only.
    pub const STATIC_PLAN: u32 = 64;
    /// The warp-specialized engine queues a run's GEMM1 tasks together once the run finished
    /// GEMM0, n-major (`TileDesc::run_tiles`, `ffn::finish`; the host's `heuristics::gemm1_runs`),
    /// else each tile's as soon as the tile finished.
    pub const GEMM1_RUNS: u32 = 128;
    /// Bits 8-9: log2 of the K splits of each routed GEMM0 task on the 128-thread engines
    /// ([`super::MoeParams::gemm0_splits`]): at decode a GEMM0 task's time is its chain of K
    /// tiles, and too few tasks leave the grid waiting (`heuristics::gemm0_splits`).
    pub const GEMM0_SPLITS_SHIFT: u32 = 8;
    pub const GEMM0_SPLITS_MASK: u32 = 3 << GEMM0_SPLITS_SHIFT;
    /// The warp-specialized GEMM0 streams this GPU's own rows into the dispatch region: the
    /// first task of each full one-segment row tile (column tile 0) gathers its A and also
    /// stores each K slice there by TMA, counting the slices stored; the tile's later tasks read
    /// the slices stored by then as TMA boxes and gather the rest (`layout::row_stream`). Off
    /// where [`COPY_LOCAL`] copies the rows in the dispatch instead (the host's
    /// `heuristics::stream_rows`).
    pub const STREAM_ROWS: u32 = 1024;
    /// The lean decode kernel runs densely (`layout::lean_grid`): block 0 routes while every
    /// other block runs one (expert, slice) item for every token, so no item waits for the
    /// gate; the last block takes the chosen experts' partials (the host's
    /// `heuristics::lean_dense`).
    pub const LEAN_DENSE: u32 = 2048;
    /// The lean decode kernel sweeps the chosen experts' weights with the whole grid (`sweep`:
    /// a cooperative launch of the persistent grid, two grid barriers; the host's
    /// `heuristics::lean_sweep`).
    pub const LEAN_SWEEP: u32 = 4096;
}

/// Most K splits of a GEMM0 task ([`flags::GEMM0_SPLITS_SHIFT`]).
pub const MAX_GEMM0_SPLITS: u32 = 8;

/// Test-only fault injection ([`MoeParams::test_hook`]).
pub mod test_hook {
    /// Normal operation.
    pub const NONE: u32 = 0;
    /// Dispatch never raises the flag of row tile 0 of expert `test_hook_arg`: its owner waits
    /// until the deadline and must report a typed timeout.
    pub const DROP_DISPATCH_FLAG: u32 = 1;
    /// Dispatch announces row tile 0 of expert `test_hook_arg` with one row more than the
    /// capacity (a corrupt count from a peer): the owner must report a bounds fault.
    pub const CORRUPT_DISPATCH_COUNT: u32 = 2;
}

/// Byte offsets into the symmetric heap. Same size and layout on every GPU: a peer writes into
/// region `[src][local expert]` of the owner and into slot `[token][j]` of the token's home.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapLayout {
    /// [`Control`] block: barrier, queue counters, abort word.
    pub control: u64,
    /// u64 per (src, local expert, row tile): `flag_word(epoch, rows routed)` once the tile landed.
    pub dispatch_flags: u64,
    /// u32 per (src, local expert, slot): `token | j << 24` of the row in that slot.
    pub dispatch_meta: u64,
    /// Elements `[src][local expert][capacity][hidden]`: routed input rows from peers (rows a GPU
    /// routes to its own experts are read in place from its input, never copied).
    pub dispatch_rows: u64,
    /// Elements `[token][top_k (+ 1 with a shared expert)][hidden]`: expert outputs returned to
    /// the token's home; slot `top_k` holds the shared expert's output (written locally).
    pub combine_slots: u64,
    /// Total bytes.
    pub bytes: u64,
}

/// Byte offsets into one GPU's private workspace.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkspaceLayout {
    /// f32 `[gate splits][tokens][logits_stride]` partial gate logits (split-K).
    pub logits: u64,
    /// u8 `[tokens][top_k]` chosen experts, best first.
    pub topk_expert: u64,
    /// f32 `[tokens][top_k]` combine weights.
    pub topk_weight: u64,
    /// u32 `[tokens][top_k]` slot in the expert's region, or [`DROPPED`](super::DROPPED).
    pub route_slot: u64,
    /// u32 `[gate chunks][experts]` routed pairs per expert per 128-token chunk.
    pub chunk_counts: u64,
    /// Elements `[src][local expert][capacity][inter]`: GEMM0 outputs.
    pub staging: u64,
    /// Elements `[tokens][shared inter]`: the shared expert's GEMM0 outputs (empty without one).
    pub shared_staging: u64,
    /// [`TileDesc`] per row tile the subscribers formed.
    pub tiles: u64,
    /// u32 per row tile: finished GEMM0 tasks.
    pub gemm0_done: u64,
    /// f32 `[slot][TILE_M][TILE_N]`: GEMM1's K-split partial tiles (`MoeParams::gemm1_splits`),
    /// slot (tile · column tiles + column tile) · splits + split.
    pub gemm1_partials: u64,
    /// u32 per (row tile, column tile) of a K-split GEMM1: splits finished.
    pub gemm1_split_done: u64,
    /// [`Task`] slots of the processor queue.
    pub queue: u64,
    /// Number of [`Task`] slots.
    pub queue_slots: u64,
    /// Total bytes.
    pub bytes: u64,
}

/// Arguments of the one-tile GEMM test kernels (`gemm_tile_*`), passed by value: `out = A[rows]·Bᵀ`
/// for rows `rows[0..n_rows]` of A and the first `n_cols` rows of B, K = `k_bytes`; output row r
/// at `out + r·ldo`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GemmTileArgs {
    /// Device addresses: A, the u32 row indices, B, the output.
    pub a: u64,
    pub rows: u64,
    pub b: u64,
    pub out: u64,
    /// Bytes between rows of A, B and the output.
    pub lda: u64,
    pub ldb: u64,
    pub ldo: u64,
    pub n_rows: u32,
    pub n_cols: u32,
    pub k_bytes: u32,
    pub _pad: u32,
}

/// All launch parameters of the persistent kernel, passed by value.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MoeParams {
    /// Tokens on this GPU.
    pub tokens: u32,
    pub hidden: u32,
    pub inter: u32,
    /// Experts of the whole layer.
    pub experts: u32,
    pub top_k: u32,
    /// Rows each (source GPU, expert) pair may send in this forward; later ones are dropped.
    pub capacity: u32,
    /// Slots per (source GPU, local expert) pair in the heap and staging regions: the capacity
    /// of the layer's largest forward, fixed by its launch plan whatever this forward's T.
    pub slot_stride: u32,
    /// Dispatch flags per pair (`row_tiles(slot_stride)`).
    pub tile_stride: u32,
    /// GPUs of the layer and this GPU's rank.
    pub world: u32,
    pub rank: u32,
    /// Experts on each GPU (`experts / world`, contiguous: GPU r owns r·n .. r·n + n).
    pub local_experts: u32,
    /// [`DType`] as u32.
    pub dtype: u32,
    /// [`ActivationKind`] as u32.
    pub activation: u32,
    /// [`flags`] bits.
    pub flags: u32,
    /// Launch counter, >= 1; stamps every flag so flags never need resetting.
    pub epoch: u32,
    /// [`test_hook`] value and its argument.
    pub test_hook: u32,
    pub test_hook_arg: u32,
    /// Blocks that dispatch (processors 1..=dispatch_blocks) and how many share one expert.
    pub dispatch_blocks: u32,
    pub dispatch_parts: u32,
    /// K splits of the gate GEMM (host heuristics).
    pub gate_splits: u32,
    /// [`RouterKind`] as u32.
    pub router: u32,
    /// [`RouterKind::GroupedSigmoid`]: groups of `experts / groups` consecutive experts, and how
    /// many of them are kept (1 and 1 for the other routers).
    pub groups: u32,
    pub topk_groups: u32,
    /// The SiLU family's parameters (`gemm::activation::Act`): the sigmoid gain (1 for SiLU)
    /// and the clamp of the gate (above) and of the up projection (both sides), +inf for none.
    /// Every activation but [`ActivationKind::ClampedSwiglu`] must pass 1 and +inf.
    pub act_alpha: f32,
    pub act_limit: f32,
    /// [`RouterKind::GroupedSigmoid`]: the factor on every routing weight
    /// (`routed_scaling_factor`; 1 for the other routers).
    pub routed_scaling: f32,
    /// The shared expert's intermediate width (a multiple of 64), 0 without a shared expert.
    pub shared_inter: u32,
    /// Lanes that route one token in this forward ([`super::route_lanes`] of its T and grid).
    pub route_lanes: u32,
    /// K splits of each GEMM1 task of the routed experts (1: none; 128-thread engines only).
    pub gemm1_splits: u32,
    /// Bit r: rank r is reached by NVSHMEM puts (NVSHMEM build), not by stores; its `heaps`
    /// entry is then this GPU's outbox for it, laid out like a heap, whose stores the kernel
    /// puts to the same offsets of rank r's heap before it signals them.
    pub put_peers: u32,
    /// Bound on every wait, in ns of %globaltimer.
    pub timeout_ns: u64,
    /// Device pointers: input `[tokens][hidden]`, gate weight `[experts][hidden]`, router bias
    /// `[experts]` (0 without [`flags::ROUTER_BIAS`]), the grouped router's score-correction
    /// bias `[experts]` in f32 whatever the layer's dtype (DeepSeek-V3 keeps it in f32; 0 for the
    /// other routers).
    pub x: u64,
    pub gate_w: u64,
    pub gate_b: u64,
    pub score_bias: u64,
    /// Local experts' weights: w1, w3 `[n][inter][hidden]`, w2 `[n][hidden][inter]`.
    pub w1: u64,
    pub w3: u64,
    pub w2: u64,
    /// Local experts' biases: b1, b3 `[n][inter]`, b2 `[n][hidden]` (0 when absent).
    pub b1: u64,
    pub b3: u64,
    pub b2: u64,
    /// The shared expert (when `shared_inter` > 0), the layer's dtype: w1, w3 `[shared inter]
    /// [hidden]`, w2 `[hidden][shared inter]` (always gated, no biases), and its sigmoid gate g
    /// `[hidden]` (Qwen2-MoE: the output is scaled by sigmoid(x·g); 0: weight 1).
    pub shared_w1: u64,
    pub shared_w3: u64,
    pub shared_w2: u64,
    pub shared_gate: u64,
    /// Output `[tokens][hidden]`.
    pub out: u64,
    /// This GPU's workspace.
    pub workspace: u64,
    /// Host-mapped [`ErrorRecord`].
    pub error: u64,
    /// Optional [`timeline`] buffer, `[blocks][timeline::SLOTS]` u64 (0: not recorded).
    pub timeline: u64,
    /// Base of the symmetric heap on every GPU, by rank (UVA addresses).
    pub heaps: [u64; MAX_WORLD],
    pub heap: HeapLayout,
    pub ws: WorkspaceLayout,
    /// Warp-specialized engine only: the device address of five TMA maps (128 bytes each) of
    /// w1, w3 (w1 again when not gated) and w2, boxes of [`WEIGHT_BOX_COLS`] columns by
    /// [`GATED_BOX_ROWS`] rows (w1, w3 when gated) or [`WEIGHT_BOX_ROWS`] (the others), of
    /// the staging region (GEMM1's A) and of this GPU's dispatch rows (GEMM0's copied A), a row
    /// per (pair, slot) each, boxes of [`TILE_M`] rows.
    pub w_maps: u64,
}

impl MoeParams {
    /// Whether rank `r` is reached by NVSHMEM puts ([`Self::put_peers`]).
    #[inline(always)]
    pub const fn puts_to(&self, r: u32) -> bool {
        r < 32 && (self.put_peers >> r) & 1 != 0
    }

    pub const fn dtype(&self) -> Option<DType> {
        DType::from_u32(self.dtype)
    }
    pub const fn gated(&self) -> bool {
        self.flags & flags::GATED != 0
    }
    pub const fn has_bias(&self) -> bool {
        self.flags & flags::BIAS != 0
    }
    pub const fn renormalize(&self) -> bool {
        self.flags & flags::RENORMALIZE != 0
    }
    /// Whether this forward runs the static decode plan ([`flags::STATIC_PLAN`]).
    pub const fn static_plan(&self) -> bool {
        self.flags & flags::STATIC_PLAN != 0
    }
    /// Whether GEMM1 tasks go out per run of tiles ([`flags::GEMM1_RUNS`]).
    pub const fn gemm1_runs(&self) -> bool {
        self.flags & flags::GEMM1_RUNS != 0
    }
    /// Whether this GPU's own routed rows are copied into the dispatch region (and GEMM0 reads
    /// them there): the [`flags::COPY_LOCAL`] switch, or a router that scales inputs (dispatch
    /// writes every row scaled).
    pub const fn copy_local(&self) -> bool {
        self.flags & flags::COPY_LOCAL != 0 || self.scales_input()
    }
    /// Whether GEMM0 streams this GPU's own rows into the dispatch region ([`flags::STREAM_ROWS`];
    /// never where the dispatch copies them).
    pub const fn stream_rows(&self) -> bool {
        self.flags & flags::STREAM_ROWS != 0 && !self.copy_local()
    }
    /// Output columns of a GEMM task's tile (see [`flags::WIDE_TILES`]).
    pub const fn tile_n(&self) -> u32 {
        if self.flags & flags::WIDE_TILES != 0 { WS_TILE_N } else { TILE_N }
    }
    /// K splits of each routed GEMM0 task (1 on the warp-specialized engine, which never splits).
    pub const fn gemm0_splits(&self) -> u32 {
        if self.flags & flags::WIDE_TILES != 0 { 1 } else { 1 << ((self.flags & flags::GEMM0_SPLITS_MASK) >> flags::GEMM0_SPLITS_SHIFT) }
    }
    /// GEMM0 tasks per routed row tile: column tiles x K splits (task column `n · splits + s`).
    pub const fn gemm0_tasks(&self) -> u32 {
        super::gemm0_tiles(self.inter, self.gated(), self.tile_n()) * self.gemm0_splits()
    }
    /// Groups that finish each task apart (the two consumer warpgroups of a wide tile): every
    /// per-task count (GEMM0 tiles done, rows returned) is reached that many times over.
    pub const fn task_parts(&self) -> u32 {
        if self.flags & flags::WIDE_TILES != 0 { 2 } else { 1 }
    }
    pub const fn router_bias(&self) -> bool {
        self.flags & flags::ROUTER_BIAS != 0
    }
    /// Whether the routing weight scales the expert's input rather than its output
    /// ([`RouterKind::SigmoidScaledInput`]).
    pub const fn scales_input(&self) -> bool {
        self.router == RouterKind::SigmoidScaledInput as u32
    }
    /// Whether the layer has a shared expert (run by this GPU for its own tokens).
    pub const fn has_shared(&self) -> bool {
        self.shared_inter != 0
    }
    /// Combine slots per token: the k routed outputs, then the shared expert's.
    pub const fn combine_stride(&self) -> u32 {
        self.top_k + self.has_shared() as u32
    }
}

/// Per-GPU control words at the start of the heap. The kernel leaves them ready for the next
/// launch; after a failed launch the host zeroes the block. `abort` and `error_claim` hold the
/// epoch of the launch that set them, so a word left by an earlier launch never reads as set.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Control {
    /// Grid barrier: arrivals, and a generation bumped by the last arrival.
    pub barrier_count: u32,
    pub barrier_gen: u32,
    /// Processor queue: slots reserved by producers, slots claimed by processors.
    pub queue_tail: u32,
    pub queue_claim: u32,
    /// Row tiles whose GEMM1 tasks are in the queue.
    pub gemm1_rows_published: u32,
    /// Equal to the current epoch: every role exits (set on a failure here, by a peer, or by
    /// the host when a launch on another GPU failed).
    pub abort: u32,
    /// Epoch of the last launch whose first failure claimed the error record.
    pub error_claim: u32,
    /// Row tiles formed so far (indexes [`WorkspaceLayout::tiles`]).
    pub tiles: u32,
    /// Expert-output rows (x GEMM1 column tiles) that owners stored into this GPU's slots. Owners
    /// add with release at system scope after their stores; only after receiving this GPU's rows
    /// of the same launch, so the reset at launch start always precedes them.
    pub returned_rows: u32,
    /// Rank of the GPU whose failure set `abort` (written before it; NONE when the host set it).
    pub abort_by: u32,
    /// Expert-output rows that owners reached by NVSHMEM puts returned here (their
    /// `NVSHMEM_SIGNAL_ADD` after the rows' puts completed); counts with `returned_rows`.
    pub returned_put: u64,
    /// The lean decode forward's arrivals: the launch epoch in the high half, blocks done in the
    /// low half (each block raises the word to its epoch, then adds one: `lean::arrive`).
    pub lean_arrivals: u64,
    pub _reserved: [u32; 50],
}

/// One processor task. `stamp == epoch` (written last, with release) marks the slot as filled.
/// GEMM tasks carry their row tile's first segment, so a single-segment tile (the common case)
/// needs no read of its [`TileDesc`] before the GEMM starts.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "nvptx64"), derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct Task {
    pub kind: u32,
    /// Row tile ([`TileDesc`] index) of GEMM tasks, token tile of combine tasks.
    pub tile: u32,
    /// Output column tile.
    pub n_tile: u32,
    /// [`tile_info`](super::tile_info) of the row tile: local expert, segments, rows.
    pub info: u32,
    /// First segment: pair and first slot.
    pub pair: u32,
    pub slot: u32,
    pub _pad: u32,
    /// The launch epoch once published; last, so the other words go out as two vector stores.
    pub stamp: u32,
}

/// A row tile of one local expert: up to 128 rows drawn from consecutive slots of one or more
/// (source, local expert) pairs. Full 128-row pieces of a pair are tiles of their own; the
/// partial last pieces of different sources are merged, so an expert's weights stream once per
/// 128 rows rather than once per source.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TileDesc {
    pub local_expert: u32,
    pub rows: u32,
    pub segments: u32,
    /// The run of tiles published with this one (the first tile's id; see `run_tiles`).
    pub run_first: u32,
    /// Segment s: `rows[s]` rows from slot `slot[s]` of pair `pair[s]` (`src * local_experts + e`).
    pub pair: [u32; MAX_SEGMENTS],
    pub slot: [u32; MAX_SEGMENTS],
    pub seg_rows: [u32; MAX_SEGMENTS],
    /// Tiles in the run: full tiles of one pair with consecutive ids and slots (1 for a merged
    /// tile). With [`flags::GEMM1_RUNS`] the warp-specialized engine queues a run's GEMM1 tasks
    /// together, n-major, like its GEMM0 tasks, once every tile of the run finished GEMM0
    /// (`ffn::finish`).
    pub run_tiles: u32,
    pub _pad1: [u32; 3],
}

/// Word indices of [`TileDesc`]'s fields, for the kernels that read and write a descriptor word
/// by word in global memory (segment s's words are `PAIR + s`, ...).
pub mod tile_words {
    use super::TileDesc;
    use core::mem::offset_of;

    pub const LOCAL_EXPERT: usize = offset_of!(TileDesc, local_expert) / 4;
    pub const ROWS: usize = offset_of!(TileDesc, rows) / 4;
    pub const SEGMENTS: usize = offset_of!(TileDesc, segments) / 4;
    pub const PAIR: usize = offset_of!(TileDesc, pair) / 4;
    pub const SLOT: usize = offset_of!(TileDesc, slot) / 4;
    pub const SEG_ROWS: usize = offset_of!(TileDesc, seg_rows) / 4;
    pub const RUN_FIRST: usize = offset_of!(TileDesc, run_first) / 4;
    pub const RUN_TILES: usize = offset_of!(TileDesc, run_tiles) / 4;
}

/// Per-block timeline of one launch (diagnostics): %globaltimer ns at phase boundaries, then
/// counters. The OS block (0) records its own milestones in the task slots.
pub mod timeline {
    pub const START: usize = 0;
    pub const GATE_DONE: usize = 1;
    pub const BARRIER_DONE: usize = 2;
    /// Processors: own dispatch finished. OS: every dispatch pair known.
    pub const DISPATCH_DONE: usize = 3;
    /// Processors: first task began. OS: combine tasks published.
    pub const FIRST_TASK: usize = 4;
    /// Processors: last task ended. OS: exit tasks published.
    pub const LAST_TASK: usize = 5;
    pub const END: usize = 6;
    /// Processors: tasks run, ns inside tasks, ns waiting for a published slot.
    pub const TASKS: usize = 7;
    pub const BUSY_NS: usize = 8;
    pub const WAIT_NS: usize = 9;
    /// Warp-specialized blocks: the last step warpgroup w reached is in slot `WG_STEP + w`.
    pub const WG_STEP: usize = 10;
    /// This block's gate logits written (before the grid barrier that precedes routing).
    pub const LOGITS_DONE: usize = 13;
    /// The grid barrier after the gate logits passed (routing begins).
    pub const ROUTE_BEGIN: usize = 14;
    /// Warp-specialized processors with streamed rows (`flags::STREAM_ROWS`): K slices read by
    /// TMA boxes in the high half, K slices of tasks that read streamed tiles in the low half.
    pub const STREAMED_SLICES: usize = 15;
    /// OS block: a subscriber saw its first current dispatch flag (the processors' `TASKS`).
    pub const OS_FIRST_FLAG: usize = 7;
    /// OS block: the first row tile's GEMM0 tasks were all published (the processors' `BUSY_NS`).
    pub const OS_FIRST_TILE: usize = 8;
    /// Processors: the part of `WAIT_NS` spent waiting for the first two tasks, and the part
    /// that ended with a combine or exit task (the rest was mid-run).
    pub const WAIT_START_NS: usize = 16;
    pub const WAIT_END_NS: usize = 17;
    /// Warp-specialized processors: consumer 0's ns waiting for its task slot, ended by a GEMM
    /// task other than its first (high half) and by a combine or exit task (low half).
    pub const CONSUMER_WAIT_NS: usize = 18;
    /// Warp-specialized processors: consumer 0's time inside GEMM tasks by kind (GEMM0 tasks
    /// that store their row tile for the others, other GEMM0 tasks, GEMM1 tasks), two slots a
    /// kind from `TASK_NS`: mainloop ns (high half) and epilogue ns (low), then `finish` ns
    /// (high) and the count of tasks (low).
    pub const TASK_NS: usize = 19;
    pub const TASK_KINDS: usize = 3;
    pub const SLOTS: usize = TASK_NS + 2 * TASK_KINDS;

    /// A block's `TASK_NS` slots of `kind` (< `TASK_KINDS`), unpacked: mainloop ns, epilogue
    /// ns, `finish` ns, tasks.
    pub const fn task_laps(block: &[u64; SLOTS], kind: usize) -> [u64; 4] {
        let (a, b) = (block[TASK_NS + 2 * kind], block[TASK_NS + 2 * kind + 1]);
        [a >> 32, a & 0xffff_ffff, b >> 32, b & 0xffff_ffff]
    }
}

/// Written once (first failure of a launch wins) into host-mapped memory; zero means success.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "nvptx64"), derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct ErrorRecord {
    /// An [`ErrorCode`](super::ErrorCode) value.
    pub code: u32,
    /// A [`WaitKind`](super::WaitKind) (timeouts) or [`FaultKind`](super::FaultKind) (faults) value.
    pub what: u32,
    pub gpu: u32,
    /// Peer GPU, expert, row tile (or token) involved, or [`NONE`](super::NONE).
    pub peer: u32,
    pub expert: u32,
    pub tile: u32,
    pub epoch: u32,
    pub block: u32,
    /// Last value the waiter saw, or the faulty value.
    pub observed: u64,
    /// The bound a faulty value broke (0 for timeouts).
    pub bound: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel packs each kind's laps two to a slot, high half first (`os::ws`'s exit marks).
    #[test]
    fn task_laps_unpack_the_kernels_slots() {
        let mut block = [0u64; timeline::SLOTS];
        block[timeline::TASK_NS + 2] = 19_800 << 32 | 5_800;
        block[timeline::TASK_NS + 3] = 1_700 << 32 | 31;
        assert_eq!(timeline::task_laps(&block, 1), [19_800, 5_800, 1_700, 31]);
        assert_eq!(timeline::task_laps(&block, 0), [0; 4]);
    }

    #[test]
    fn shared_struct_sizes_are_stable() {
        assert_eq!(core::mem::size_of::<Task>(), 32);
        // `Queue::write`'s two vector stores.
        assert_eq!((core::mem::offset_of!(Task, kind), core::mem::offset_of!(Task, pair)), (0, 16));
        assert_eq!(core::mem::offset_of!(Task, stamp), 28);
        assert_eq!(core::mem::size_of::<TileDesc>(), 128);
        assert_eq!(core::mem::size_of::<Control>(), 256);
        assert_eq!(core::mem::size_of::<ErrorRecord>(), 48);
        assert_eq!(core::mem::size_of::<HeapLayout>(), 48);
        // 23 u32 words, 2 activation words and the routed scaling, the shared width, the routing
        // lanes, GEMM1's K splits and a pad,
        // the timeout, 19 pointers, 8 heap bases, both layouts; a block keeps its copy in shared
        // memory (at most 512 bytes, see `smem`).
        assert_eq!(core::mem::size_of::<WorkspaceLayout>(), 112);
        assert_eq!(core::mem::size_of::<MoeParams>(), 504);
        assert_eq!(core::mem::size_of::<GemmTileArgs>(), 72);
    }

    #[test]
    fn gemm0_tasks_split_by_the_flag_bits_on_narrow_tiles_only() {
        let p = MoeParams { inter: 2048, ..MoeParams::default() };
        assert_eq!((p.gemm0_splits(), p.gemm0_tasks()), (1, 16));
        let split = MoeParams { flags: 3 << flags::GEMM0_SPLITS_SHIFT, ..p };
        assert_eq!((split.gemm0_splits(), split.gemm0_tasks()), (MAX_GEMM0_SPLITS, 128));
        let gated = MoeParams { flags: flags::GATED | 1 << flags::GEMM0_SPLITS_SHIFT, ..p };
        assert_eq!((gated.gemm0_splits(), gated.gemm0_tasks()), (2, 64));
        let wide = MoeParams { flags: flags::WIDE_TILES | 2 << flags::GEMM0_SPLITS_SHIFT, ..p };
        assert_eq!((wide.gemm0_splits(), wide.gemm0_tasks()), (1, 8));
    }

    #[test]
    fn router_words_and_the_input_scaling_router_copies_local_rows() {
        for kind in [RouterKind::Softmax, RouterKind::GroupedSigmoid, RouterKind::SigmoidScaledInput] {
            assert_eq!(RouterKind::from_u32(kind as u32), Some(kind));
        }
        assert_eq!(RouterKind::from_u32(3), None);
        let grouped = MoeParams { router: RouterKind::GroupedSigmoid as u32, ..MoeParams::default() };
        assert!(!grouped.scales_input() && !grouped.copy_local());
        assert!(MoeParams { flags: flags::COPY_LOCAL, ..grouped }.copy_local());
        // GEMM0 must read Llama-4's rows scaled, so from the dispatch region, whatever the bit.
        let llama4 = MoeParams { router: RouterKind::SigmoidScaledInput as u32, ..MoeParams::default() };
        assert!(llama4.scales_input() && llama4.copy_local());
    }
}
