//! Every `#[repr(C)]` type the host and the kernels share, and the pure functions that place data
//! in the symmetric heap and the local workspace. The host fills these structs; the kernels read
//! them; neither side re-declares them.

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
/// Columns of a GEMM output tile (gated GEMM0 tiles produce half of it, see [`gemm0_tile_cols`]).
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
/// Tokens per combine task.
pub const COMBINE_TOKENS: u32 = 32;
/// Row granularity of hidden / intermediate sizes (one 16-byte vector of f32 x 16 threads).
pub const DIM_MULTIPLE: u32 = 64;
/// Most (source, slot range) segments one merged row tile holds: one partial tile per source.
pub const MAX_SEGMENTS: usize = MAX_WORLD;
/// Most blocks that dispatch rows to peers (enough to fill NVLink; the rest start GEMMs at once).
pub const MAX_DISPATCH_BLOCKS: u32 = 128;
/// `route_slot` value of a token-expert pair dropped by capacity.
pub const DROPPED: u32 = u32::MAX;
/// Marker for "not applicable" in an [`ErrorRecord`].
pub const NONE: u32 = u32::MAX;

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

/// Expert activation, applied to x·W1 (+b1); gated experts multiply it by x·W3 (+b3).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    Relu = 0,
    /// The exact (erf) form: x/2 · (1 + erf(x/√2)).
    Gelu = 1,
    /// x · sigmoid(x); with `gated` this is SwiGLU.
    Silu = 2,
}

impl Activation {
    /// Decodes the `activation` word of [`MoeParams`].
    pub const fn from_u32(v: u32) -> Option<Activation> {
        match v {
            0 => Some(Activation::Relu),
            1 => Some(Activation::Gelu),
            2 => Some(Activation::Silu),
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
    /// Copy rows routed to this GPU's own experts into the dispatch region too (A/B switch;
    /// by default GEMM0 reads them in place from the input).
    pub const COPY_LOCAL: u32 = 8;
}

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
    /// Elements `[token][top_k][hidden]`: expert outputs returned to the token's home.
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
    /// u32 `[tokens][top_k]` slot in the expert's region, or [`DROPPED`].
    pub route_slot: u64,
    /// u32 `[gate chunks][experts]` routed pairs per expert per 128-token chunk.
    pub chunk_counts: u64,
    /// Elements `[src][local expert][capacity][inter]`: GEMM0 outputs.
    pub staging: u64,
    /// [`TileDesc`] per row tile the subscribers formed.
    pub tiles: u64,
    /// u32 per row tile: finished GEMM0 tasks.
    pub gemm0_done: u64,
    /// [`Task`] slots of the processor queue.
    pub queue: u64,
    /// Number of [`Task`] slots.
    pub queue_slots: u64,
    /// Total bytes.
    pub bytes: u64,
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
    /// [`Activation`] as u32.
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
    /// Bound on every wait, in ns of %globaltimer.
    pub timeout_ns: u64,
    /// Device pointers: input `[tokens][hidden]`, gate weight `[experts][hidden]`.
    pub x: u64,
    pub gate_w: u64,
    /// Local experts' weights: w1, w3 `[n][inter][hidden]`, w2 `[n][hidden][inter]`.
    pub w1: u64,
    pub w3: u64,
    pub w2: u64,
    /// Local experts' biases: b1, b3 `[n][inter]`, b2 `[n][hidden]` (0 when absent).
    pub b1: u64,
    pub b3: u64,
    pub b2: u64,
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
}

impl MoeParams {
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
    pub const fn copy_local(&self) -> bool {
        self.flags & flags::COPY_LOCAL != 0
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
    pub _reserved: [u32; 55],
}

/// Kinds of [`Task`].
pub mod task_kind {
    /// act(rows · W1ᵀ) for one output tile of one row tile ([`super::TileDesc`]).
    pub const GEMM0: u32 = 1;
    /// staging · W2ᵀ for one output tile, written to the tokens' home slots.
    pub const GEMM1: u32 = 2;
    /// Weighted sum of the k slots of [`super::COMBINE_TOKENS`] tokens.
    pub const COMBINE: u32 = 3;
    /// No more work: the processor returns.
    pub const EXIT: u32 = 4;
}

/// One processor task. `stamp == epoch` (written last, with release) marks the slot as filled.
/// GEMM tasks carry their row tile's first segment, so a single-segment tile (the common case)
/// needs no read of its [`TileDesc`] before the GEMM starts.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Task {
    pub stamp: u32,
    pub kind: u32,
    /// Row tile ([`TileDesc`] index) of GEMM tasks, token tile of combine tasks.
    pub tile: u32,
    /// Output column tile.
    pub n_tile: u32,
    /// [`tile_info`] of the row tile: local expert, segments, rows.
    pub info: u32,
    /// First segment: pair and first slot.
    pub pair: u32,
    pub slot: u32,
    pub _pad: u32,
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
    match t.kind {
        task_kind::GEMM0 | task_kind::GEMM1 => t.tile < launch_tiles(p),
        task_kind::COMBINE | task_kind::EXIT => true,
        _ => false,
    }
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
    pub _pad: u32,
    /// Segment s: `rows[s]` rows from slot `slot[s]` of pair `pair[s]` (`src * local_experts + e`).
    pub pair: [u32; MAX_SEGMENTS],
    pub slot: [u32; MAX_SEGMENTS],
    pub seg_rows: [u32; MAX_SEGMENTS],
    pub _pad1: [u32; 4],
}

/// Per-block timeline of one launch (diagnostics): %globaltimer ns at phase boundaries, then
/// counters. The OS block (0) records its own milestones in the task slots.
pub mod timeline {
    pub const SLOTS: usize = 16;
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
}

/// What a timed-out wait was waiting for ([`ErrorRecord::wait`]).
pub mod wait_kind {
    pub const GRID_BARRIER: u32 = 1;
    pub const DISPATCH_FLAG: u32 = 2;
    /// Expert outputs for this GPU's tokens (the returned-rows counter).
    pub const RETURNED_ROWS: u32 = 3;
    pub const TASK_SLOT: u32 = 4;
    pub const TERMINATION: u32 = 5;
}

/// A value that crossed blocks or GPUs and failed its bounds check ([`ErrorRecord::what`] of a
/// [`error_code::FAULT`]). The kernel never uses such a value for an access.
pub mod fault_kind {
    /// A dispatch flag's row count above the capacity (peer = source GPU).
    pub const FLAG_COUNT: u32 = 1;
    /// A later dispatch flag of a pair whose count differs from its tile-0 flag.
    pub const FLAG_MISMATCH: u32 = 2;
    /// A row tile id past the tiles this launch can form.
    pub const TILE_ID: u32 = 3;
    /// A task slot past the end of the queue.
    pub const QUEUE_FULL: u32 = 4;
    /// A task whose fields are out of range (kind, tile, column tile, expert, segment, rows).
    pub const TASK: u32 = 5;
    /// A row tile segment out of range (pair, slot + rows above the capacity).
    pub const SEGMENT: u32 = 6;
    /// A dispatch-meta word whose token or top-k rank is out of range.
    pub const META: u32 = 7;
    /// More expert-output rows returned than this GPU's tokens sent.
    pub const RETURNED_ROWS: u32 = 8;
    /// A token whose gate logits are not finite (NaN or infinity in its input); `tile` = token.
    pub const NON_FINITE_INPUT: u32 = 9;
}

/// Written once (first failure of a launch wins) into host-mapped memory; zero means success.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "nvptx64"), derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct ErrorRecord {
    /// An [`error_code`] value.
    pub code: u32,
    /// A [`wait_kind`] (timeouts) or [`fault_kind`] (faults) value.
    pub what: u32,
    pub gpu: u32,
    /// Peer GPU, expert, row tile (or token) involved, or [`NONE`].
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

/// Error codes of [`ErrorRecord::code`].
pub mod error_code {
    pub const NONE: u32 = 0;
    pub const TIMEOUT: u32 = 1;
    pub const FAULT: u32 = 2;
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

/// `ceil(a / b)`.
#[inline(always)]
pub const fn div_ceil(a: u32, b: u32) -> u32 {
    a.div_ceil(b)
}

/// Row tiles one launch can form on one GPU: every pair's kept rows in whole tiles (merging
/// partial tiles only lowers the count). Ids past it were not prepared by the launch.
#[inline(always)]
pub const fn launch_tiles(p: &MoeParams) -> u32 {
    p.world * p.local_experts * row_tiles(p.capacity)
}

/// Row tiles of a region holding `rows` rows.
#[inline(always)]
pub const fn row_tiles(rows: u32) -> u32 {
    div_ceil(rows, TILE_M)
}

/// Output columns of one GEMM0 task: gated tiles hold W1 and W3 columns side by side.
#[inline(always)]
pub const fn gemm0_tile_cols(gated: bool) -> u32 {
    if gated { TILE_N / 2 } else { TILE_N }
}

/// GEMM0 tasks per row tile.
#[inline(always)]
pub const fn gemm0_tiles(inter: u32, gated: bool) -> u32 {
    div_ceil(inter, gemm0_tile_cols(gated))
}

/// GEMM1 tasks per row tile.
#[inline(always)]
pub const fn gemm1_tiles(hidden: u32) -> u32 {
    div_ceil(hidden, TILE_N)
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

/// Most K splits of the gate: the routing phase sums this many partials per logit.
pub const MAX_GATE_SPLITS: u32 = 8;
/// Tokens per routing unit (4 per warp): small units spread routing over the whole grid.
pub const ROUTE_TOKENS: u32 = 16;

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
    /// Most tasks one launch can put in the queue on one GPU.
    pub const fn queue_slots(&self) -> u64 {
        let per_row = (gemm0_tiles(self.inter, self.gated) + gemm1_tiles(self.hidden)) as u64;
        self.max_tiles() * per_row + combine_tasks(self.tokens) as u64 + self.processors as u64
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

/// A bump allocator of 256-byte-aligned regions.
struct Bump(u64);

impl Bump {
    const fn take(&mut self, bytes: u64) -> u64 {
        let at = self.0;
        self.0 = align256(at + bytes);
        at
    }
}

/// Lays out the symmetric heap for `s`.
pub const fn heap_layout(s: &Shape) -> HeapLayout {
    let e = s.elem_bytes as u64;
    let pairs = s.pairs() as u64;
    let cap = s.capacity as u64;
    let mut b = Bump(0);
    let control = b.take(core::mem::size_of::<Control>() as u64);
    let dispatch_flags = b.take(pairs * s.tiles_per_pair() as u64 * 8);
    let dispatch_meta = b.take(pairs * cap * 4);
    let dispatch_rows = b.take(pairs * cap * s.hidden as u64 * e);
    let combine_slots = b.take(s.tokens as u64 * s.top_k as u64 * s.hidden as u64 * e);
    HeapLayout { control, dispatch_flags, dispatch_meta, dispatch_rows, combine_slots, bytes: b.0 }
}

/// Lays out one GPU's workspace for `s`.
pub const fn workspace_layout(s: &Shape) -> WorkspaceLayout {
    let e = s.elem_bytes as u64;
    let t = s.tokens as u64;
    let tk = t * s.top_k as u64;
    let pairs = s.pairs() as u64;
    let tiles = s.max_tiles();
    let mut b = Bump(0);
    let logits = b.take(s.gate_logit_rows() * logits_stride(s.experts) as u64 * 4);
    // Padded so the dispatch scan can read 16 bytes at a time past the last token.
    let topk_expert = b.take(tk + 16);
    let topk_weight = b.take(tk * 4);
    let route_slot = b.take(tk * 4);
    let chunk_counts = b.take(gate_chunks(s.tokens) as u64 * s.experts as u64 * 4);
    let staging = b.take(pairs * s.capacity as u64 * s.inter as u64 * e);
    let tile_descs = b.take(tiles * core::mem::size_of::<TileDesc>() as u64);
    let gemm0_done = b.take(tiles * 4);
    let queue_slots = s.queue_slots();
    let queue = b.take(queue_slots * core::mem::size_of::<Task>() as u64);
    WorkspaceLayout {
        logits,
        topk_expert,
        topk_weight,
        route_slot,
        chunk_counts,
        staging,
        tiles: tile_descs,
        gemm0_done,
        queue,
        queue_slots,
        bytes: b.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }
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
        assert_eq!(w.queue - w.gemm0_done, 256);
        // 16 row tiles x (4 + 2) tasks + 32 combine tasks + 263 exits.
        assert_eq!(w.queue_slots, 16 * 6 + 32 + 263);
        assert_eq!(w.bytes, w.queue + align256(w.queue_slots * 32));
    }

    #[test]
    fn tile_counts() {
        assert_eq!(gemm0_tiles(2048, false), 16);
        assert_eq!(gemm0_tiles(2048, true), 32);
        assert_eq!(gemm0_tiles(192, false), 2);
        assert_eq!(gemm1_tiles(320), 3);
        assert_eq!(row_tiles(0), 0);
        assert_eq!(row_tiles(129), 2);
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
        for kind in [task_kind::GEMM0, task_kind::GEMM1] {
            assert!(task_in_bounds(&p, &task(kind, 15)));
            assert!(!task_in_bounds(&p, &task(kind, 16)));
            assert!(!task_in_bounds(&p, &task(kind, u32::MAX)));
        }
        // A combine task past the tokens touches nothing (its token range is clamped).
        assert!(task_in_bounds(&p, &task(task_kind::COMBINE, 1000)));
        assert!(task_in_bounds(&p, &task(task_kind::EXIT, 0)));
        assert!(!task_in_bounds(&p, &task(0, 0)));
        assert!(!task_in_bounds(&p, &task(7, 0)));
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
    fn shared_struct_sizes_are_stable() {
        assert_eq!(core::mem::size_of::<Task>(), 32);
        assert_eq!(tile_info_parts(tile_info(255, 8, 128)), (255, 8, 128));
        assert_eq!(core::mem::size_of::<TileDesc>(), 128);
        assert_eq!(core::mem::size_of::<Control>(), 256);
        assert_eq!(core::mem::size_of::<ErrorRecord>(), 48);
        assert_eq!(core::mem::size_of::<HeapLayout>(), 48);
        assert_eq!(core::mem::size_of::<MoeParams>() % 8, 0);
    }
}
