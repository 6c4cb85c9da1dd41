//! `MoeLayer`: one MoE layer over the GPUs of a [`Cluster`]. Each forward is one cooperative
//! launch of the persistent kernel per GPU; the host only launches and waits.
//!
//! A layer owns its weights and its launch [`Plan`] (fixed at construction from the configured
//! maximum T); its heap, workspace and I/O buffers live in a [`Scratch`] arena that layers running
//! one after another can share. Safe code cannot free or overwrite memory a kernel in flight
//! uses: every method that would returns [`Error::Busy`] until [`MoeLayer::wait`], and dropping a
//! layer with a forward in flight aborts and waits for it.

use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flashmoe_kernels::entries::{self, Arch, Entry, MainloopKind};
use flashmoe_kernels::layout::{self, GATED_BOX_ROWS, MoeParams, WEIGHT_BOX_COLS, WEIGHT_BOX_ROWS, flags, test_hook};

use crate::config::{ConfigError, DType, MoeConfig};
use crate::device::Cluster;
use crate::driver::{DeviceBuffer, Function, HostMapped, KernelGraph, LaunchConfig, MapSpec, Stream, TensorMap};
use crate::error::{Error, Result};
use crate::numeric;
use crate::plan::Plan;
use crate::scratch::{Arena, Scratch};
use crate::tuning::{Mainloop, OwnRows, Tuning};
use crate::weights::{SCORE_BIAS, Weights};

/// Default bound on every wait inside the kernel.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bounds of [`MoeLayer::set_timeout`].
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// One GPU's weights (its local experts' slices, and the whole gate).
#[derive(Debug)]
struct DeviceWeights {
    gate: DeviceBuffer,
    gate_b: Option<DeviceBuffer>,
    /// The grouped router's score-correction bias, f32 whatever the layer's dtype.
    score_bias: Option<DeviceBuffer>,
    w1: DeviceBuffer,
    w3: Option<DeviceBuffer>,
    w2: DeviceBuffer,
    b1: Option<DeviceBuffer>,
    b3: Option<DeviceBuffer>,
    b2: Option<DeviceBuffer>,
    /// The shared expert, whole on every GPU (each runs it for its own tokens), and its gate.
    shared_w1: Option<DeviceBuffer>,
    shared_w3: Option<DeviceBuffer>,
    shared_w2: Option<DeviceBuffer>,
    shared_gate: Option<DeviceBuffer>,
    /// TMA maps of w1, w3 (w1 again when not gated) and w2 (boxes of 128 or 256 rows x 128
    /// bytes, see `layout::WEIGHT_BOX_ROWS`) for the warp-specialized engine's weight loads, of
    /// the scratch's staging region (GEMM1's A) and of the heap's dispatch rows (GEMM0's copied
    /// A), 128-row boxes (`MoeParams::w_maps`); None for the other engines.
    maps: Option<TensorMap>,
    /// The staging and dispatch-rows addresses maps 3 and 4 were last encoded for (0: a
    /// placeholder): the scratch arena can move them between forwards, and every launch brings
    /// the maps up to date first.
    staging_at: AtomicU64,
    dispatch_at: AtomicU64,
}

/// A kernel one GPU runs forwards with, and its persistent grid.
#[derive(Debug)]
struct Engine {
    kernel: Function,
    /// The kernel's row of the entry table (name, build, launch shape).
    entry: &'static Entry,
    grid: u32,
}

impl Engine {
    /// The persistent grid's launch shape.
    fn launch_config(&self) -> LaunchConfig {
        LaunchConfig { grid: self.grid, block: self.entry.threads, shared_bytes: self.entry.shared_bytes }
    }

    fn wide(&self) -> bool {
        self.entry.mainloop == Some(MainloopKind::WarpSpecialized)
    }

    /// The lean decode kernel or its sweep: a plain launch of as many blocks as the forward has
    /// items, or a cooperative one of the sweep's grid.
    fn lean(&self) -> bool {
        self.entry.mainloop.is_some_and(MainloopKind::lean)
    }
}

/// How one GPU launches a forward of some token count (`MoeLayer::launch_of`).
struct Launch<'r> {
    engine: &'r Engine,
    /// How the lean kernel runs it, where it does.
    lean: Option<LeanLaunch>,
    config: LaunchConfig,
    /// Every block co-resident: the persistent engines and the sweep wait at grid barriers.
    cooperative: bool,
}

/// How the lean decode kernel runs a forward ([`MoeLayer::lean_launch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeanLaunch {
    /// One block per (chosen expert, slice) item, after every block routed.
    Routed,
    /// A routing block beside one block per (expert, slice) item for every token
    /// (`flags::LEAN_DENSE`).
    Dense,
    /// Every block routes, then the grid sweeps the chosen experts' weights
    /// (`flags::LEAN_SWEEP`, a cooperative launch).
    Sweep,
}

/// What one GPU of the layer owns.
#[derive(Debug)]
struct Rank {
    /// The layer's engine: the one for its largest forwards.
    engine: Engine,
    /// With `Mainloop::Auto` on the warp-specialized engine: the 128-thread engine, for forwards
    /// with too few rows per expert for 128x256 tiles (decode on a layer built for prefill: on
    /// the ws engine, without the static decode plan, T = 1 took twice as long, perf log v27).
    narrow: Option<Engine>,
    /// The lean decode kernel, for forwards of a few tokens where it runs
    /// ([`crate::heuristics::lean`]; one GPU, 16-bit types, no shared expert).
    lean: Option<Engine>,
    /// The sweep (with the lean kernel), for a few tokens of larger experts
    /// ([`crate::heuristics::lean_sweep`]).
    sweep: Option<Engine>,
    /// Streaming multiprocessors of the GPU (the dense lean launch takes at most one block each).
    sms: u32,
    weights: Option<DeviceWeights>,
    /// Per-block phase timestamps of the last launch, when recording (see [`MoeLayer::record_timeline`]).
    timeline: Option<Arc<HostMapped<u64>>>,
}

impl Rank {
    /// The most blocks a launch of the persistent engines has (what the plan is sized for).
    fn max_grid(&self) -> u32 {
        self.narrow.as_ref().map_or(self.engine.grid, |n| n.grid.max(self.engine.grid))
    }

    /// The most blocks any launch of this GPU has (what the timeline is sized for): the sweep's
    /// three blocks an SM may outnumber the persistent engines' grid.
    fn most_blocks(&self) -> u32 {
        self.sweep.as_ref().map_or(self.max_grid(), |s| s.grid.max(self.max_grid()))
    }
}

/// The routing one GPU decided for its tokens (exposed for tests and diagnostics).
#[derive(Clone, Debug, PartialEq)]
pub struct GpuRouting {
    /// `[t][j]` chosen expert.
    pub expert: Vec<u8>,
    /// `[t][j]` combine weight.
    pub weight: Vec<f32>,
    /// `[t][j]` slot in the expert's region, or [`layout::DROPPED`].
    pub slot: Vec<u32>,
}

/// One layer's forward of a fixed token count as CUDA graphs, one per GPU, each a single
/// cooperative kernel node: [`MoeLayer::capture`] builds it, [`MoeLayer::replay`] runs it (write
/// the new inputs into [`MoeLayer::input_buffer`] first, read [`MoeLayer::output_buffer`] after).
///
/// ```no_run
/// use flashmoe::{Cluster, MoeConfig, MoeLayer, Weights, numeric};
///
/// let cluster = Cluster::first(1)?;
/// let cfg = MoeConfig { tokens: 256, ..MoeConfig::default() };
/// let mut layer = MoeLayer::new(&cluster, cfg.clone())?;
/// layer.load_weights(&Weights::random(&cfg, 7))?;
/// let mut step = layer.capture(1)?;                            // T = 1 per replay
/// let (input, output) = (layer.input_buffer(0)?, layer.output_buffer(0)?);
/// let mut y = vec![0u8; cfg.hidden * cfg.dtype.bytes() as usize];
/// for i in 0..32 {
///     let x = vec![0.01 * i as f64; cfg.hidden];               // this step's token
///     input.write(0, &numeric::encode(cfg.dtype, &x))?;
///     layer.replay(&mut step)?;                                // bounded wait, typed errors
///     output.read(0, &mut y)?;
///     let _out = numeric::decode(cfg.dtype, &y);
/// }
/// # Ok::<(), flashmoe::Error>(())
/// ```
///
/// # Why a replay is as correct as a plain forward
///
/// The graph holds no state of any forward. Its node fixes only what is fixed for the layer's
/// life anyway (function, grid, block, shared memory, the cooperative attribute); every replay
/// rewrites all of the node's arguments (`cuGraphExecKernelNodeSetParams`) with the very
/// [`MoeParams`] a plain launch would get: the pointers of the weights and of the arena as they
/// are now (another layer may have grown the arena, `load_weights` may have replaced the
/// weights), the timeout, and the epoch `Arena::begin` hands out for this launch. The driver
/// applies an update to every later launch of the graph and to none already enqueued, and a
/// replay starts only when nothing is in flight on the arena, so each launch runs with exactly
/// the epoch it was given. Plain forwards, replays and other layers on the same arena thus draw
/// from one epoch sequence, and the invariant every flag, task stamp, abort word and error claim
/// relies on is unchanged: a word equal to the current epoch was written by the current launch.
/// The wrap at 2^32, the bounded wait, the error record, the abort of started GPUs when a later
/// one fails and [`Error::Busy`] all go through the same code as [`MoeLayer::forward_device`].
///
/// (The alternative, the epoch in device memory so that a replay needs no parameter update,
/// would make every epoch comparison in the kernel read memory and the host mirror a counter the
/// device bumps, for the abort word and the error records; one driver call per replay is cheaper
/// than that argument.)
///
/// Several GPUs: one graph per GPU, launched in rank order on each GPU's stream, as plain
/// launches are. A graph replays only the layer that captured it (else [`Error::ForeignGraph`]);
/// it owns no memory of the layer, so dropping either first is fine (a graph still running is
/// freed by the driver when it completes).
#[derive(Debug)]
pub struct ForwardGraph<'c> {
    layer: u64,
    tokens: usize,
    graphs: Vec<KernelGraph>,
    /// The graphs use the cluster's kernels: the cluster must outlive them.
    cluster: PhantomData<&'c Cluster>,
}

impl ForwardGraph<'_> {
    /// Tokens per GPU of every replay.
    pub fn tokens(&self) -> usize {
        self.tokens
    }
}

/// Test-only fault injection.
#[derive(Clone, Copy, Debug, Default)]
struct Hooks {
    /// [`test_hook`] value and argument passed to the kernel.
    kernel: (u32, u32),
    /// Fail the launch (as a driver error would) right after GPU rank r started.
    fail_launch_after: Option<usize>,
}

/// A Mixture-of-Experts layer on one or more GPUs (experts split evenly, E / G per GPU).
///
/// ```no_run
/// use flashmoe::{Cluster, MoeConfig, MoeLayer, Weights};
///
/// let cluster = Cluster::all_local()?;
/// let cfg = MoeConfig { tokens: 4096, experts: 32, ..MoeConfig::default() }; // most tokens per forward
/// let mut layer = MoeLayer::new(&cluster, cfg.clone())?;
/// layer.load_weights(&Weights::random(&cfg, 7))?;
/// // Any T from 1 to 4096 per forward; the same T on every GPU.
/// let x = vec![vec![0.25f32; 100 * cfg.hidden]; cluster.len()];
/// let y = layer.forward(&x.iter().map(|v| v.as_slice()).collect::<Vec<_>>())?;
/// assert_eq!(y[0].len(), 100 * cfg.hidden);
/// // Or on device buffers: fill `input_buffer(rank)`, run, read `output_buffer(rank)`.
/// layer.forward_device(100)?;
/// # Ok::<(), flashmoe::Error>(())
/// ```
#[derive(Debug)]
pub struct MoeLayer<'c> {
    cluster: &'c Cluster,
    cfg: MoeConfig,
    plan: Plan,
    tuning: Tuning,
    scratch: Scratch,
    id: u64,
    ranks: Vec<Rank>,
    timeout: Duration,
    hooks: Hooks,
}

/// Builds a [`MoeLayer`]: `MoeLayer::builder(&cluster, cfg).scratch(&shared).build()`.
#[derive(Debug)]
pub struct MoeLayerBuilder<'c> {
    cluster: &'c Cluster,
    cfg: MoeConfig,
    tuning: Tuning,
    scratch: Option<Scratch>,
    timeout: Duration,
}

impl<'c> MoeLayerBuilder<'c> {
    /// Speed choices (defaults from the heuristics).
    pub fn tuning(mut self, tuning: Tuning) -> Self {
        self.tuning = tuning;
        self
    }

    /// Shares `scratch` with the other layers built on it (default: a scratch of its own).
    pub fn scratch(mut self, scratch: &Scratch) -> Self {
        self.scratch = Some(scratch.clone());
        self
    }

    /// Bound on every wait inside the kernel (clamped to [`MIN_TIMEOUT`], [`MAX_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.clamp(MIN_TIMEOUT, MAX_TIMEOUT);
        self
    }

    /// Validates the configuration, loads the kernel, sizes the grid from the occupancy API,
    /// computes the launch plan and attaches the layer to its scratch (growing it if needed).
    pub fn build(self) -> Result<MoeLayer<'c>> {
        let cluster = self.cluster;
        let cfg = self.cfg;
        let world = cluster.world_size();
        cfg.validate(world)?;
        // A feature only the f64 reference implements is refused here, before anything is
        // allocated or launched, never computed as something else.
        cfg.kernel_support()?;
        if let Some(blocks) = self.tuning.max_blocks.filter(|&b| b < 2) {
            return Err(ConfigError::TooFewBlocks(blocks).into());
        }
        let mut ranks = Vec::with_capacity(cluster.len());
        // A scratch on NVSHMEM's heap runs the NVSHMEM build's kernels (their module knows
        // NVSHMEM's device state).
        #[cfg(feature = "nvshmem")]
        let nvshmem = self.scratch.as_ref().and_then(Scratch::nvshmem);
        // The warp-specialized engine's tasks have no shared-expert tiles yet, and its consumers
        // cannot issue NVSHMEM puts (perf log v16).
        if self.tuning.mainloop == Mainloop::WarpSpecialized && cfg.shared.is_some() {
            return Err(ConfigError::NotInKernel("a shared expert on the warp-specialized engine (--mainloop ws)").into());
        }
        let puts = self.scratch.as_ref().is_some_and(|s| s.put_peers() != 0);
        if self.tuning.mainloop == Mainloop::WarpSpecialized && puts {
            return Err(ConfigError::NotInKernel("NVSHMEM puts to peers on the warp-specialized engine (--mainloop ws)").into());
        }
        let auto_wide = crate::heuristics::wide_tiles(cfg.tokens, cfg.top_k, cfg.experts, cfg.gated, cfg.shared.is_some())
            && cfg.dtype != DType::F32
            && !puts;
        for g in cluster.gpus() {
            let arch = self.tuning.arch.unwrap_or(g.arch());
            let mainloop = match self.tuning.mainloop {
                Mainloop::Auto => auto_wide.then_some(MainloopKind::WarpSpecialized).filter(|_| arch == Arch::Sm90a),
                Mainloop::WarpSpecialized => Some(MainloopKind::WarpSpecialized),
                Mainloop::Wgmma => Some(MainloopKind::Wgmma),
                Mainloop::MmaSync => Some(MainloopKind::MmaSync),
            };
            let load = |mainloop: Option<MainloopKind>| -> Result<Engine> {
                let entry = entries::moe_forward(arch, cfg.dtype, mainloop).ok_or(Error::NoSuchKernel {
                    arch: arch.name(),
                    dtype: cfg.dtype,
                    mainloop: self.tuning.mainloop,
                })?;
                #[cfg(feature = "nvshmem")]
                let kernel = match &nvshmem {
                    Some(host) if arch == entries::NVSHMEM_ARCH => g.nvshmem_function(host, entry.name)?,
                    Some(_) => return Err(Error::Unavailable("the NVSHMEM build has sm_90a kernels only")),
                    None => g.function_in(arch, entry.name)?,
                };
                #[cfg(not(feature = "nvshmem"))]
                let kernel = g.function_in(arch, entry.name)?;
                kernel.set_max_dynamic_shared(entry.shared_bytes)?;
                let per_sm = kernel.max_blocks_per_sm(entry.threads, entry.shared_bytes)?;
                if per_sm == 0 {
                    return Err(Error::NoOccupancy { gpu: g.ordinal, kernel: entry.name, per_sm });
                }
                let grid = (per_sm * g.sms).min(self.tuning.max_blocks.unwrap_or(u32::MAX));
                Ok(Engine { kernel, entry, grid })
            };
            let engine = load(mainloop)?;
            // Only where Auto chose the wide tiles: a forced engine runs every forward.
            let narrow = if self.tuning.mainloop == Mainloop::Auto && engine.wide() { Some(load(None)?) } else { None };
            // With Auto, or asked for: a forced engine runs every forward otherwise.
            let lean_wanted = self.tuning.lean.unwrap_or(self.tuning.mainloop == Mainloop::Auto);
            let lean_kernel = world == 1
                && cfg.dtype != DType::F32
                && cfg.shared.is_none()
                && cfg.router != crate::config::Router::SigmoidScaledInput
                && !puts;
            let (lean, sweep) = if lean_wanted && lean_kernel {
                (Some(load(Some(MainloopKind::Dots))?), Some(load(Some(MainloopKind::Sweep))?))
            } else {
                (None, None)
            };
            ranks.push(Rank { engine, narrow, lean, sweep, sms: g.sms, weights: None, timeline: None });
        }
        // Every rank's largest grid; another process's GPU is taken to be like this one's (a
        // rank's grid only sizes its own launch and dispatch, never a peer's region).
        let grids: Vec<u32> = (0..world).map(|g| ranks[g.saturating_sub(cluster.first_rank()).min(ranks.len() - 1)].max_grid()).collect();
        let plan = Plan::new(&cfg, &grids, &self.tuning)?;
        let scratch = match self.scratch {
            Some(s) => s,
            None => Scratch::new(cluster)?,
        };
        let id = {
            let mut arena = scratch.lock();
            if !arena.serves_cluster(cluster) {
                return Err(Error::Unavailable("the scratch arena was made for other GPUs than this layer's cluster"));
            }
            arena.attach(&plan)?
        };
        Ok(MoeLayer { cluster, cfg, plan, tuning: self.tuning, scratch, id, ranks, timeout: self.timeout, hooks: Hooks::default() })
    }
}

impl<'c> MoeLayer<'c> {
    /// A builder for `cfg` on `cluster` (`cfg.tokens` = most tokens per GPU a forward may carry).
    pub fn builder(cluster: &'c Cluster, cfg: MoeConfig) -> MoeLayerBuilder<'c> {
        MoeLayerBuilder { cluster, cfg, tuning: Tuning::default(), scratch: None, timeout: DEFAULT_TIMEOUT }
    }

    /// The layer for `cfg` with default tuning and a scratch arena of its own.
    pub fn new(cluster: &'c Cluster, cfg: MoeConfig) -> Result<Self> {
        Self::builder(cluster, cfg).build()
    }

    pub fn config(&self) -> &MoeConfig {
        &self.cfg
    }

    pub fn cluster(&self) -> &Cluster {
        self.cluster
    }

    /// The launch plan, fixed for the layer's life.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    /// The scratch arena this layer runs in (clone it into a builder to share it).
    pub fn scratch(&self) -> &Scratch {
        &self.scratch
    }

    fn rank(&self, rank: usize) -> Result<&Rank> {
        self.ranks.get(rank).ok_or(Error::NoSuchRank { rank, world: self.ranks.len() })
    }

    /// Blocks of the persistent grid on GPU `rank` (SMs x co-resident blocks per SM) of the
    /// layer's engine ([`Self::kernel`]).
    pub fn grid(&self, rank: usize) -> Result<u32> {
        Ok(self.rank(rank)?.engine.grid)
    }

    /// The entry-table row of the kernel GPU `rank` runs the layer's largest forwards with (name,
    /// PTX build, main loop). Forwards with fewer rows per expert may take another:
    /// [`Self::kernel_for`].
    pub fn kernel(&self, rank: usize) -> Result<&'static Entry> {
        Ok(self.rank(rank)?.engine.entry)
    }

    /// The kernel and grid GPU `rank` runs a forward of `tokens` tokens with: the lean decode
    /// kernel where it runs and [`crate::heuristics::lean`] takes the forward (its grid: the
    /// forward's items), else the layer's engine, or where `Mainloop::Auto` chose the
    /// warp-specialized one, the 128-thread engine for forwards with too few rows per expert for
    /// its tiles ([`crate::heuristics::wide_tiles`] at this T).
    pub fn kernel_for(&self, rank: usize, tokens: usize) -> Result<(&'static Entry, u32)> {
        let launch = self.launch_of(self.rank(rank)?, tokens);
        Ok((launch.engine.entry, launch.config.grid))
    }

    /// How the lean decode kernel runs GPU `rank`'s forward of `tokens` tokens, or `None` where
    /// another kernel takes it ([`Self::kernel_for`]).
    pub fn lean_launch(&self, rank: usize, tokens: usize) -> Result<Option<LeanLaunch>> {
        Ok(self.lean_launch_of(self.rank(rank)?, tokens))
    }

    /// How GPU `rank` launches a forward of `tokens` tokens ([`Launch`]), worked out once per
    /// forward.
    fn launch_of<'r>(&self, rank: &'r Rank, tokens: usize) -> Launch<'r> {
        let (cfg, s) = (&self.cfg, &self.plan.shape);
        let lean = self.lean_launch_of(rank, tokens);
        let engine = match (lean, &rank.lean, &rank.sweep, &rank.narrow) {
            (Some(LeanLaunch::Sweep), _, Some(sweep), _) => sweep,
            (Some(_), Some(items), _, _) => items,
            (None, _, _, Some(n)) if !crate::heuristics::wide_tiles(tokens, cfg.top_k, cfg.experts, cfg.gated, cfg.shared.is_some()) => n,
            _ => &rank.engine,
        };
        // The persistent engines and the sweep run on their grids, every block co-resident
        // (they wait at grid barriers); the lean items as many blocks as the forward has items.
        let (grid, cooperative) = match lean {
            None | Some(LeanLaunch::Sweep) => (engine.grid, true),
            Some(items) => (layout::lean_grid(tokens as u32, s.top_k, s.experts, s.inter, items == LeanLaunch::Dense), false),
        };
        Launch { engine, lean, config: LaunchConfig { grid, ..engine.launch_config() }, cooperative }
    }

    /// How the rank's lean kernel runs a forward of `tokens` tokens, if it takes it: few enough
    /// tokens whose rows fit its shared memory and no test hook on dispatch flags (it has none);
    /// then, for at most `layout::LEAN_MAX_TOKENS` tokens, its items (one block per (expert,
    /// slice), routed or dense) where their launch fits the persistent grid (the timeline is
    /// sized for that) and their partials the workspace's partial region, by the heuristic
    /// unless the tuning asks, and unless the sweep takes it first
    /// (`heuristics::sweep_before_items`); else the sweep where the tuning or the heuristic asks
    /// for it.
    fn lean_launch_of(&self, rank: &Rank, tokens: usize) -> Option<LeanLaunch> {
        let (cfg, s, ws) = (&self.cfg, &self.plan.shape, &self.plan.ws);
        rank.lean.as_ref()?;
        let t = tokens as u32;
        let region = ws.gemm1_split_done - ws.gemm1_partials;
        if t > layout::SWEEP_MAX_TOKENS
            || t as u64 * s.hidden as u64 * cfg.dtype.bytes() as u64 > layout::LEAN_X_BYTES as u64
            || self.hooks.kernel.0 != test_hook::NONE
        {
            return None;
        }
        let fits = |dense: bool| {
            let grid = layout::lean_grid(t, s.top_k, s.experts, s.inter, dense);
            grid <= rank.max_grid() && layout::lean_partial_bytes(grid, s.hidden) <= region
        };
        let sweep_fits = layout::sweep_bytes(s.hidden, s.inter) <= region && rank.sweep.as_ref().is_some_and(|sweep| sweep.grid >= 2);
        if sweep_fits && self.tuning.lean_sweep == Some(true) {
            return Some(LeanLaunch::Sweep);
        }
        use crate::heuristics;
        let (k, e, h, i, gated, bytes) = (s.top_k, s.experts, s.hidden, s.inter, cfg.gated, cfg.dtype.bytes());
        let sweep = sweep_fits && self.tuning.lean_sweep.unwrap_or_else(|| heuristics::lean_sweep(t, k, e, h, i, gated, bytes));
        // Where both would take it, the sweep past a few MiB of chosen weights.
        let items = t <= layout::LEAN_MAX_TOKENS
            && (self.tuning.lean == Some(true)
                || (heuristics::lean(t, k, e, h, i, bytes) && !(sweep && heuristics::sweep_before_items(t, k, e, h, i, gated, bytes))));
        if items && fits(false) {
            let dense = fits(true) && self.tuning.lean_dense.unwrap_or_else(|| heuristics::lean_dense(t, k, e, i, rank.sms));
            return Some(if dense { LeanLaunch::Dense } else { LeanLaunch::Routed });
        }
        sweep.then_some(LeanLaunch::Sweep)
    }

    /// Whether a forward of `tokens` tokens on GPU `rank` runs the static decode plan
    /// ([`crate::heuristics::static_plan`], docs/decode-plan.md).
    pub fn static_plan(&self, rank: usize, tokens: usize) -> Result<bool> {
        let launch = self.launch_of(self.rank(rank)?, tokens);
        let f = self.plan.forward_on(tokens, launch.engine.grid)?;
        Ok(launch.lean.is_none() && self.runs_static_plan(launch.engine, &f))
    }

    /// Where GPU `rank`'s GEMM0 reads the rows routed to its own experts on the layer's engine
    /// ([`OwnRows`]; the tuning's `copy_local` and `stream_rows`, else the heuristics).
    pub fn own_rows(&self, rank: usize) -> Result<OwnRows> {
        Ok(self.own_rows_of(&self.rank(rank)?.engine))
    }

    fn own_rows_of(&self, engine: &Engine) -> OwnRows {
        let ws = engine.wide();
        let (t, shape) = (&self.tuning, &self.plan.shape);
        if self.cfg.router == crate::config::Router::SigmoidScaledInput || t.copy_local == Some(true) {
            OwnRows::Copied
        } else if ws && t.stream_rows.unwrap_or(crate::heuristics::stream_rows(shape.inter, self.cfg.gated)) {
            OwnRows::Streamed
        } else if t.copy_local.unwrap_or(crate::heuristics::copy_local(ws, shape.inter, self.cfg.gated)) {
            OwnRows::Copied
        } else {
            OwnRows::Gathered
        }
    }

    fn runs_static_plan(&self, engine: &Engine, f: &crate::plan::Forward) -> bool {
        let (cfg, shape) = (&self.cfg, &self.plan.shape);
        self.tuning.static_plan != Some(false)
            && crate::heuristics::static_plan(&crate::heuristics::StaticPlanCase {
                world: shape.world,
                narrow_tiles: !engine.wide(),
                shared_expert: cfg.shared.is_some(),
                copies_rows: self.own_rows_of(engine) != OwnRows::Gathered,
                dispatch_hook: self.hooks.kernel.0 != test_hook::NONE,
                tokens: f.tokens,
                top_k: shape.top_k,
                experts: shape.experts,
                route_lanes: f.route_lanes,
            })
    }

    /// Registers per thread of the layer's kernel on GPU `rank` (as ptxas or the driver's JIT
    /// gave it).
    pub fn kernel_registers(&self, rank: usize) -> Result<i32> {
        self.rank(rank)?.engine.kernel.registers()
    }

    /// Whether GPU `rank` runs the layer's kernel as built (a cubin) or as the driver compiled
    /// the PTX.
    pub fn kernel_code(&self, rank: usize) -> Result<crate::driver::Code> {
        Ok(self.rank(rank)?.engine.kernel.code())
    }

    /// Bytes of the symmetric heap on each GPU (of the scratch arena, shared with its layers).
    pub fn heap_bytes(&self) -> usize {
        self.scratch.lock().heap.bytes()
    }

    /// Bytes of this layer's weights on each GPU.
    pub fn weight_bytes(&self) -> u64 {
        let (e, h, i) = (self.cfg.experts as u64, self.cfg.hidden as u64, self.cfg.inter as u64);
        let local = e / self.cluster.world_size() as u64;
        let mats = if self.cfg.gated { 3 } else { 2 };
        let biases = if self.cfg.bias { local * (if self.cfg.gated { 2 * i } else { i } + h) } else { 0 };
        (e * h + local * mats * h * i + biases) * self.cfg.dtype.bytes() as u64
    }

    /// Bounds every wait inside the kernel (clamped to [`MIN_TIMEOUT`], [`MAX_TIMEOUT`]); a wait
    /// past it fails the forward with [`Error::Timeout`].
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout.clamp(MIN_TIMEOUT, MAX_TIMEOUT);
    }

    /// Test-only fault injection: the next forwards never raise the tile-0 dispatch flag of
    /// `expert` (`None` restores normal operation), so the owner must time out.
    pub fn inject_dropped_dispatch_flag(&mut self, expert: Option<u32>) {
        self.hooks.kernel = expert.map_or((test_hook::NONE, 0), |e| (test_hook::DROP_DISPATCH_FLAG, e));
    }

    /// Test-only fault injection: the next forwards announce one row more than the capacity in
    /// the tile-0 flag of `expert`, so its owner must report a bounds fault.
    #[doc(hidden)]
    pub fn inject_corrupt_dispatch_count(&mut self, expert: Option<u32>) {
        self.hooks.kernel = expert.map_or((test_hook::NONE, 0), |e| (test_hook::CORRUPT_DISPATCH_COUNT, e));
    }

    /// Test-only fault injection: the next launches fail (as a driver error would) right after
    /// GPU rank `rank` started, so the started GPUs must be aborted and waited for.
    #[doc(hidden)]
    pub fn inject_launch_failure(&mut self, rank: Option<usize>) {
        self.hooks.fail_launch_after = rank;
    }

    /// Uploads weights: the gate to every GPU, each GPU's experts (contiguous E / G) to it (in
    /// multi-process mode this process's rank's experts of the whole `w`). Every value must be
    /// finite in the layer's dtype. On error the previous weights stay.
    pub fn load_weights(&mut self, w: &Weights) -> Result<()> {
        if self.scratch.lock().running(self.id) {
            return Err(Error::Busy("loading weights"));
        }
        w.validate(&self.cfg)?;
        let (h, i) = (self.cfg.hidden, self.cfg.inter);
        let local = self.cfg.experts / self.cluster.world_size();
        let encoded = w.encoded(self.cfg.dtype)?;
        let bytes = |name: &str| encoded.iter().find(|(n, _)| *n == name).and_then(|(_, b)| b.as_deref());
        let elem = self.cfg.dtype.bytes() as usize;
        let mut uploaded = Vec::with_capacity(self.ranks.len());
        for r in 0..self.ranks.len() {
            let ctx = self.cluster.gpus()[r].context();
            let g = self.cluster.first_rank() + r;
            let upload = |name: &str, per_expert: usize, all: bool| -> Result<Option<DeviceBuffer>> {
                let Some(b) = bytes(name) else { return Ok(None) };
                let part = if all { b } else { &b[g * local * per_expert * elem..(g + 1) * local * per_expert * elem] };
                let buf = DeviceBuffer::alloc(ctx, part.len())?;
                buf.write(0, part)?;
                Ok(Some(buf))
            };
            let needed = |b: Option<DeviceBuffer>, name: &str| b.ok_or_else(|| Error::Weights(format!("`{name}` is missing")));
            let (w1, w3, w2) = (
                needed(upload("experts.w1", i * h, false)?, "experts.w1")?,
                upload("experts.w3", i * h, false)?,
                needed(upload("experts.w2", h * i, false)?, "experts.w2")?,
            );
            let maps = if self.ranks[r].engine.wide() {
                let bf16 = self.cfg.dtype == DType::Bf16;
                let spec = |ptr: u64, rows: usize, cols: usize, box_rows: u32| MapSpec {
                    bf16,
                    ptr,
                    rows: rows as u64,
                    cols: cols as u64,
                    row_bytes: (cols * elem) as u64,
                    box_rows,
                };
                // Gated B tiles are W1's 128 rows then W3's; the others one 256-row box.
                let w13_box = if w3.is_some() { GATED_BOX_ROWS } else { WEIGHT_BOX_ROWS };
                let w3_ptr = w3.as_ref().map_or(w1.ptr(), |b| b.ptr());
                // The region maps are encoded for the arena at each launch (`sync_region_maps`);
                // until then they describe w2, any valid address.
                let specs = [
                    spec(w1.ptr(), local * i, h, w13_box),
                    spec(w3_ptr, local * i, h, w13_box),
                    spec(w2.ptr(), local * h, i, WEIGHT_BOX_ROWS),
                    self.region_spec(w2.ptr(), self.plan.shape.inter),
                    self.region_spec(w2.ptr(), self.plan.shape.hidden),
                ];
                Some(TensorMap::new(ctx, &specs, WEIGHT_BOX_COLS)?)
            } else {
                None
            };
            uploaded.push(DeviceWeights {
                gate: needed(upload("gate.weight", 0, true)?, "gate.weight")?,
                gate_b: upload("gate.bias", 0, true)?,
                score_bias: upload(SCORE_BIAS, 0, true)?,
                w1,
                w3,
                w2,
                b1: upload("experts.b1", i, false)?,
                b3: upload("experts.b3", i, false)?,
                b2: upload("experts.b2", h, false)?,
                shared_w1: upload("shared.w1", 0, true)?,
                shared_w3: upload("shared.w3", 0, true)?,
                shared_w2: upload("shared.w2", 0, true)?,
                shared_gate: upload("shared.gate", 0, true)?,
                maps,
                staging_at: AtomicU64::new(0),
                dispatch_at: AtomicU64::new(0),
            });
        }
        for (rank, w) in self.ranks.iter_mut().zip(uploaded) {
            rank.weights = Some(w);
        }
        Ok(())
    }

    /// GPU `rank`'s input buffer, `[tokens][hidden]` of the layer's dtype, shared with the layers
    /// of the same scratch. Writing it while a forward is in flight changes that forward's input.
    pub fn input_buffer(&self, rank: usize) -> Result<Arc<DeviceBuffer>> {
        self.rank(rank)?;
        let arena = self.scratch.lock();
        arena.idle("using the input buffer")?;
        Ok(arena.gpus[rank].input.clone())
    }

    /// GPU `rank`'s output buffer, `[tokens][hidden]` of the layer's dtype, shared with the
    /// layers of the same scratch (the next forward of any of them overwrites it).
    pub fn output_buffer(&self, rank: usize) -> Result<Arc<DeviceBuffer>> {
        self.rank(rank)?;
        let arena = self.scratch.lock();
        arena.idle("using the output buffer")?;
        Ok(arena.gpus[rank].output.clone())
    }

    /// Forward on host data: `x[rank]` holds GPU rank's `tokens x hidden` inputs (any count up to
    /// the configured tokens, the same on every GPU). Returns each GPU's outputs.
    pub fn forward(&mut self, x: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        if x.len() != self.ranks.len() {
            return Err(Error::ShapeMismatch { what: "inputs (one slice per GPU)".into(), got: x.len(), expected: self.ranks.len() });
        }
        let tokens = x[0].len() / self.cfg.hidden;
        for xr in x {
            if xr.len() != tokens * self.cfg.hidden {
                return Err(Error::ShapeMismatch { what: "input of a GPU".into(), got: xr.len(), expected: tokens * self.cfg.hidden });
            }
        }
        self.plan.forward(0, tokens)?;
        let mut arena = self.scratch.lock();
        arena.idle("a forward")?;
        for (g, xr) in arena.gpus.iter().zip(x) {
            g.input.write(0, &numeric::encode_f32(self.cfg.dtype, xr))?;
        }
        self.launch_locked(&mut arena, tokens, None)?;
        arena.finish(self.timeout)?;
        let bytes = tokens * self.cfg.hidden * self.cfg.dtype.bytes() as usize;
        arena
            .gpus
            .iter()
            .map(|g| {
                let mut out = vec![0u8; bytes];
                g.output.read(0, &mut out)?;
                Ok(numeric::decode(self.cfg.dtype, &out).into_iter().map(|v| v as f32).collect())
            })
            .collect()
    }

    /// Forward on the scratch's device buffers ([`Self::input_buffer`] -> [`Self::output_buffer`])
    /// for `tokens` tokens per GPU: launches on every GPU, returns when all finished.
    pub fn forward_device(&mut self, tokens: usize) -> Result<()> {
        let mut arena = self.scratch.lock();
        self.launch_locked(&mut arena, tokens, None)?;
        arena.finish(self.timeout)
    }

    /// Launches one forward on every GPU without waiting (see [`Self::wait`]). Until then every
    /// method that would touch memory the kernels use returns [`Error::Busy`].
    pub fn launch(&mut self, tokens: usize) -> Result<()> {
        let mut arena = self.scratch.lock();
        self.launch_locked(&mut arena, tokens, None)
    }

    /// Captures the forward of `tokens` tokens per GPU as CUDA graphs, one per GPU (see
    /// [`ForwardGraph`]); replay it with [`Self::replay`]. Fails as a forward would for a bad
    /// T or missing weights; launches nothing.
    pub fn capture(&self, tokens: usize) -> Result<ForwardGraph<'c>> {
        let arena = self.scratch.lock();
        let mut graphs = Vec::with_capacity(self.ranks.len());
        for (r, rank) in self.ranks.iter().enumerate() {
            // Epoch 0 ("never written") is never launched: every launch sets its own first.
            self.sync_region_maps(&arena, r)?;
            let launch = self.launch_of(rank, tokens);
            let mut p = self.params(&arena, r, tokens, &launch)?;
            let mut args = [&mut p as *mut MoeParams as *mut c_void];
            // SAFETY: the kernel takes one MoeParams by value; the driver copies it.
            graphs.push(unsafe { KernelGraph::new(&launch.engine.kernel, launch.config, &mut args, launch.cooperative)? });
        }
        Ok(ForwardGraph { layer: self.id, tokens, graphs, cluster: PhantomData })
    }

    /// Replays `graph` (captured from this layer): the forward of `graph.tokens()` tokens on the
    /// inputs now in the input buffers, returning when every GPU finished, with the same bounded
    /// wait and typed errors as [`Self::forward_device`].
    pub fn replay(&mut self, graph: &mut ForwardGraph) -> Result<()> {
        let mut arena = self.scratch.lock();
        self.launch_locked(&mut arena, graph.tokens, Some(graph))?;
        arena.finish(self.timeout)
    }

    /// Launches `graph` without waiting (see [`Self::wait`]), as [`Self::launch`] does.
    pub fn launch_graph(&mut self, graph: &mut ForwardGraph) -> Result<()> {
        let mut arena = self.scratch.lock();
        self.launch_locked(&mut arena, graph.tokens, Some(graph))
    }

    /// Starts the forward on every GPU: a cooperative launch, or a launch of `graph` with this
    /// forward's parameters. Either way one epoch from [`Arena::begin`], and an abort of the GPUs
    /// already started when a later one fails.
    fn launch_locked(&self, arena: &mut Arena, tokens: usize, mut graph: Option<&mut ForwardGraph>) -> Result<()> {
        arena.idle("launching")?;
        if let Some(g) = &graph
            && (g.layer != self.id || g.graphs.len() != self.ranks.len())
        {
            return Err(Error::ForeignGraph);
        }
        // Every GPU's parameters before the epoch is taken, so that a bad T or missing weights
        // fail without a launch; on the stack (at most MAX_WORLD x 400 bytes), not in a Vec.
        let world = self.ranks.len();
        let mut params = [MoeParams::default(); layout::MAX_WORLD];
        let mut launches = [const { None }; layout::MAX_WORLD];
        for (r, (p, launch)) in params.iter_mut().zip(&mut launches).enumerate().take(world) {
            let l = launch.insert(self.launch_of(&self.ranks[r], tokens));
            *p = self.params(arena, r, tokens, l)?;
            self.sync_region_maps(arena, r)?;
        }
        let epoch = arena.begin(self.id, tokens)?;
        for (r, (mut p, launch)) in params.into_iter().zip(launches).enumerate().take(world) {
            let Some(launch) = launch else { break };
            p.epoch = epoch;
            let mut args = [&mut p as *mut MoeParams as *mut c_void];
            let stream = &arena.gpus[r].stream;
            // SAFETY: the kernel takes one MoeParams by value; every pointer in it is owned by
            // this layer or its arena, and neither frees them while the launch is in flight.
            let launched = unsafe {
                match graph.as_deref_mut() {
                    Some(g) => g.graphs[r].launch(stream, &mut args),
                    None => launch.engine.kernel.launch(stream, launch.config, &mut args, launch.cooperative),
                }
            };
            let failed = match launched {
                Err(e) => Some((e, r)),
                Ok(()) if self.hooks.fail_launch_after == Some(r) => Some((Error::InjectedLaunchFailure { rank: r }, r + 1)),
                Ok(()) => None,
            };
            if let Some((e, started)) = failed {
                arena.abandon(started)?;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Waits for the launched forward on every GPU (bounded) and reports what the kernels
    /// recorded ([`Error::Timeout`], [`Error::Fault`], [`Error::NonFiniteInput`]); afterwards the
    /// layer is ready for the next forward. Ok when nothing of this layer is in flight.
    pub fn wait(&mut self) -> Result<()> {
        let mut arena = self.scratch.lock();
        match arena.in_flight {
            Some(f) if f.layer == self.id => arena.finish(self.timeout),
            Some(_) => Err(Error::Busy("waiting on another layer's forward (call wait() on that layer)")),
            None => Ok(()),
        }
    }

    /// The TMA map of a region with one row of `cols` values per (pair, slot), `slot_stride`
    /// slots per pair, at `ptr`, read in 128-row boxes: the staging region (map 3 of
    /// `MoeParams::w_maps`, `inter` columns) or the dispatch rows (map 4, `hidden`).
    fn region_spec(&self, ptr: u64, cols: u32) -> MapSpec {
        let shape = &self.plan.shape;
        let pairs = (shape.world * shape.local_experts()) as u64;
        let row_bytes = cols as u64 * self.cfg.dtype.bytes() as u64;
        MapSpec {
            bf16: self.cfg.dtype == DType::Bf16,
            ptr,
            // Regions outside [TILE_M, STAGING_MAP_ROWS] rows are never read through the map
            // (the kernel's `ffn::a_box`), but it must encode.
            rows: (pairs * self.plan.slot_stride() as u64).clamp(layout::TILE_M as u64, layout::STAGING_MAP_ROWS as u64),
            cols: cols as u64,
            row_bytes,
            box_rows: layout::TILE_M,
        }
    }

    /// Brings GPU `r`'s region maps to the arena's staging region and its heap's dispatch rows,
    /// if the layer has them and a region moved since it was encoded. Only while nothing runs on
    /// the arena.
    fn sync_region_maps(&self, arena: &Arena, r: usize) -> Result<()> {
        let Some(w) = self.ranks[r].weights.as_ref() else { return Ok(()) };
        let Some(maps) = w.maps.as_ref() else { return Ok(()) };
        let shape = &self.plan.shape;
        let sync = |index: usize, encoded: &AtomicU64, at: u64, cols: u32| -> Result<()> {
            if encoded.load(Ordering::Relaxed) != at {
                maps.rewrite(index, &self.region_spec(at, cols), WEIGHT_BOX_COLS)?;
                encoded.store(at, Ordering::Relaxed);
            }
            Ok(())
        };
        sync(3, &w.staging_at, arena.gpus[r].workspace.ptr() + arena.layout.ws.staging, shape.inter)?;
        let dispatch = arena.heap.bases()[self.cluster.first_rank() + r] + arena.layout.heap.dispatch_rows;
        sync(4, &w.dispatch_at, dispatch, shape.hidden)
    }

    /// The launch parameters of GPU `r` (rank `first_rank + r` of the layer) for `tokens` tokens,
    /// launched as `launch`.
    fn params(&self, arena: &Arena, r: usize, tokens: usize, launch: &Launch) -> Result<MoeParams> {
        let global = self.cluster.first_rank() + r;
        let rank = &self.ranks[r];
        let engine = launch.engine;
        let f = &self.plan.forward_on(tokens, engine.grid)?;
        let w = rank.weights.as_ref().ok_or_else(|| Error::Weights("no weights loaded (call load_weights first)".into()))?;
        let ptr = |b: &Option<DeviceBuffer>| b.as_ref().map_or(0, |b| b.ptr());
        let (cfg, shape) = (&self.cfg, &self.plan.shape);
        let own_rows = self.own_rows_of(engine);
        let mut bits = 0;
        for (on, bit) in [
            (cfg.gated, flags::GATED),
            (cfg.bias, flags::BIAS),
            (cfg.renormalize, flags::RENORMALIZE),
            (cfg.router_bias, flags::ROUTER_BIAS),
            (own_rows == OwnRows::Copied, flags::COPY_LOCAL),
            (own_rows == OwnRows::Streamed, flags::STREAM_ROWS),
            (self.tuning.gemm1_runs.unwrap_or(crate::heuristics::gemm1_runs(shape.inter, cfg.dtype.bytes())), flags::GEMM1_RUNS),
            (engine.wide(), flags::WIDE_TILES),
        ] {
            if on {
                bits |= bit;
            }
        }
        match launch.lean {
            Some(LeanLaunch::Dense) => bits |= flags::LEAN_DENSE,
            Some(LeanLaunch::Sweep) => bits |= flags::LEAN_SWEEP,
            _ => {}
        }
        if launch.lean.is_none() && self.runs_static_plan(engine, f) {
            bits |= flags::STATIC_PLAN;
        }
        // GEMM0 K splits are the 128-thread engines' (the ws engine runs whole tasks).
        if !engine.wide() {
            bits |= f.gemm0_splits.ilog2() << flags::GEMM0_SPLITS_SHIFT;
        }
        let (dispatch_blocks, dispatch_parts) = self.plan.dispatch_on(engine.grid);
        let act = cfg.activation.kernel_params();
        let (groups, topk_groups, routed_scaling) = cfg.router.kernel_params();
        let mut ws = arena.layout.ws;
        ws.queue_slots = self.plan.ws.queue_slots;
        let g = &arena.gpus[r];
        Ok(MoeParams {
            tokens: f.tokens,
            hidden: shape.hidden,
            inter: shape.inter,
            experts: shape.experts,
            top_k: shape.top_k,
            capacity: f.capacity,
            slot_stride: self.plan.slot_stride(),
            tile_stride: self.plan.tile_stride(),
            world: shape.world,
            rank: global as u32,
            local_experts: shape.local_experts(),
            dtype: cfg.dtype as u32,
            activation: cfg.activation.kind() as u32,
            flags: bits,
            epoch: 0,
            test_hook: self.hooks.kernel.0,
            test_hook_arg: self.hooks.kernel.1,
            dispatch_blocks,
            dispatch_parts,
            // The lean kernel's blocks each compute every logit in one split.
            gate_splits: if engine.lean() { 1 } else { f.gate_splits },
            router: cfg.router.kind() as u32,
            groups,
            topk_groups,
            act_alpha: act.0,
            act_limit: act.1,
            routed_scaling,
            shared_inter: shape.shared_inter,
            route_lanes: if engine.lean() { layout::lean_route_lanes(f.tokens, shape.experts) } else { f.route_lanes },
            // The warp-specialized engine runs whole GEMM1 tasks.
            gemm1_splits: if bits & flags::WIDE_TILES != 0 { 1 } else { f.gemm1_splits },
            put_peers: arena.heap.put_peers(),
            timeout_ns: u64::try_from(self.timeout.as_nanos()).unwrap_or(u64::MAX),
            x: g.input.ptr(),
            gate_w: w.gate.ptr(),
            gate_b: ptr(&w.gate_b),
            score_bias: ptr(&w.score_bias),
            w1: w.w1.ptr(),
            w3: ptr(&w.w3),
            w2: w.w2.ptr(),
            b1: ptr(&w.b1),
            b3: ptr(&w.b3),
            b2: ptr(&w.b2),
            shared_w1: ptr(&w.shared_w1),
            shared_w3: ptr(&w.shared_w3),
            shared_w2: ptr(&w.shared_w2),
            shared_gate: if cfg.shared.is_some_and(|s| s.sigmoid_gate) { ptr(&w.shared_gate) } else { 0 },
            w_maps: w.maps.as_ref().map_or(0, |m| m.device_ptr()),
            out: g.output.ptr(),
            workspace: g.workspace.ptr(),
            error: g.error.device_ptr(),
            timeline: rank.timeline.as_ref().map_or(0, |b| b.device_ptr()),
            heaps: arena.heap.bases(),
            heap: arena.layout.heap,
            ws,
        })
    }

    /// The tasks GPU `rank`'s processor queue held in this layer's last forward, in slot order:
    /// the leading slots stamped with that launch's epoch, none when its engine had no queue (a
    /// diagnostic: which consecutive tasks share a weight panel, `layout::slot_pairs_sharing_panels`).
    pub fn queue(&self, rank: usize) -> Result<Vec<layout::Task>> {
        self.rank(rank)?;
        let arena = self.scratch.lock();
        arena.idle("reading the task queue")?;
        let Some(epoch) = arena.last.filter(|f| f.layer == self.id).map(|f| f.epoch) else {
            return Err(Error::Unavailable("no task queue: this layer's last forward failed, or another layer ran on the scratch since"));
        };
        let ws = &arena.layout.ws;
        let mut tasks = vec![layout::Task::default(); ws.queue_slots as usize];
        arena.gpus[rank].workspace.read(ws.queue as usize, &mut tasks)?;
        Ok(tasks.into_iter().take_while(|t| t.stamp == epoch).collect())
    }

    /// The routing GPU `rank` decided in this layer's last forward, which must have carried
    /// `tokens` tokens and be the last forward on the scratch arena.
    pub fn routing(&self, rank: usize, tokens: usize) -> Result<GpuRouting> {
        self.rank(rank)?;
        let arena = self.scratch.lock();
        arena.idle("reading the routing")?;
        match arena.last {
            Some(f) if f.layer == self.id && f.tokens == tokens => {}
            Some(f) if f.layer == self.id => {
                return Err(Error::ShapeMismatch { what: "tokens of the last forward".into(), got: tokens, expected: f.tokens });
            }
            _ => return Err(Error::Unavailable("no routing: this layer's last forward failed, or another layer ran on the scratch since")),
        }
        let ws = &arena.layout.ws;
        let n = tokens * self.cfg.top_k;
        let (mut expert, mut weight, mut slot) = (vec![0u8; n], vec![0f32; n], vec![0u32; n]);
        let buf = &arena.gpus[rank].workspace;
        buf.read(ws.topk_expert as usize, &mut expert)?;
        buf.read(ws.topk_weight as usize, &mut weight)?;
        buf.read(ws.route_slot as usize, &mut slot)?;
        Ok(GpuRouting { expert, weight, slot })
    }

    /// Whether forwards record a per-block timeline (a few stores per block; for diagnostics).
    pub fn record_timeline(&mut self, on: bool) -> Result<()> {
        if self.scratch.lock().running(self.id) {
            return Err(Error::Busy("changing the timeline buffers"));
        }
        for (r, rank) in self.ranks.iter_mut().enumerate() {
            rank.timeline = if on {
                let len = rank.most_blocks() as usize * layout::timeline::SLOTS;
                Some(Arc::new(HostMapped::alloc(self.cluster.gpus()[r].context(), len)?))
            } else {
                None
            };
        }
        Ok(())
    }

    /// The timeline GPU `rank` recorded in the last forward (None when not recording): one row
    /// per block, block 0 = the OS block.
    pub fn timeline(&self, rank: usize) -> Result<Option<Vec<[u64; layout::timeline::SLOTS]>>> {
        let r = self.rank(rank)?;
        let last = {
            let arena = self.scratch.lock();
            if arena.running(self.id) {
                return Err(Error::Busy("reading the timeline"));
            }
            arena.last.filter(|f| f.layer == self.id).map(|f| f.tokens)
        };
        let Some(b) = &r.timeline else { return Ok(None) };
        // The rows of the last forward's launch (the two engines' grids differ).
        let grid = last.map_or(r.engine.grid, |t| self.launch_of(r, t).config.grid);
        let flat: Vec<u64> = (0..grid as usize * layout::timeline::SLOTS).map(|i| b.get(i).unwrap_or(0)).collect();
        Ok(Some(flat.chunks_exact(layout::timeline::SLOTS).map(|c| c.try_into().unwrap_or([0; layout::timeline::SLOTS])).collect()))
    }

    /// The timeline buffer of GPU `rank` itself (host-mapped: readable while a kernel runs, to see
    /// where a hung forward stopped).
    pub fn timeline_live(&self, rank: usize) -> Result<Option<Arc<HostMapped<u64>>>> {
        Ok(self.rank(rank)?.timeline.clone())
    }

    /// Stream of GPU `rank`'s launches (for timing with events), shared by the scratch's layers.
    pub fn stream(&self, rank: usize) -> Result<Arc<Stream>> {
        self.rank(rank)?;
        Ok(self.scratch.lock().gpus[rank].stream.clone())
    }
}

impl Drop for MoeLayer<'_> {
    /// A forward of this layer still in flight is aborted and waited for before its weights are
    /// freed; if a kernel will not stop, the weights are leaked rather than freed under it.
    fn drop(&mut self) {
        let mut arena = self.scratch.lock();
        if arena.in_flight.is_some_and(|f| f.layer == self.id) {
            let _ = arena.abandon(self.ranks.len());
        }
        if arena.running(self.id) {
            for r in &mut self.ranks {
                std::mem::forget(r.weights.take());
                std::mem::forget(r.timeline.take());
            }
        }
    }
}
