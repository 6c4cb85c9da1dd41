//! `MoeLayer`: one MoE layer over the GPUs of a [`Cluster`]. Each forward is one cooperative
//! launch of the persistent kernel per GPU; the host only launches and waits.

use std::ffi::c_void;
use std::time::{Duration, Instant};

use flashmoe_kernels::layout::{
    self, BLOCK_THREADS, ErrorRecord, HeapLayout, MoeParams, SHARED_BYTES, Shape, WorkspaceLayout, error_code, flags, test_hook, wait_kind,
};

use crate::config::{ConfigError, DType, MoeConfig, capacity};
use crate::device::Cluster;
use crate::driver::{DeviceBuffer, Function, HostMapped, LaunchConfig, Stream};
use crate::error::{Error, Result};
use crate::heap::SymmetricHeap;
use crate::numeric;
use crate::weights::Weights;

/// Default bound on every wait inside the kernel.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One GPU's weights (its local experts' slices, and the whole gate).
#[derive(Debug)]
struct DeviceWeights {
    gate: DeviceBuffer,
    w1: DeviceBuffer,
    w3: Option<DeviceBuffer>,
    w2: DeviceBuffer,
    b1: Option<DeviceBuffer>,
    b3: Option<DeviceBuffer>,
    b2: Option<DeviceBuffer>,
}

/// What one GPU of the layer owns.
#[derive(Debug)]
struct Rank {
    stream: Stream,
    kernel: Function,
    grid: u32,
    workspace: DeviceBuffer,
    input: DeviceBuffer,
    output: DeviceBuffer,
    weights: Option<DeviceWeights>,
    error: HostMapped<ErrorRecord>,
    /// Per-block phase timestamps of the last launch, when recording (see [`MoeLayer::record_timeline`]).
    timeline: Option<DeviceBuffer>,
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

/// A Mixture-of-Experts layer on one or more GPUs (experts split evenly, E / G per GPU).
#[derive(Debug)]
pub struct MoeLayer<'c> {
    cluster: &'c Cluster,
    cfg: MoeConfig,
    heap: SymmetricHeap,
    ranks: Vec<Rank>,
    epoch: u32,
    timeout: Duration,
    hook: (u32, u32),
}

/// The kernel for `dtype` on a device running PTX for `arch`. On Hopper, bf16 uses wgmma; set
/// FLASHMOE_MMA=sync to run its mma.sync build instead (for A/B measurements).
fn kernel_name(dtype: DType, arch: &str) -> &'static str {
    match dtype {
        DType::Bf16 if arch == "sm_90a" && std::env::var("FLASHMOE_MMA").as_deref() == Ok("sync") => "moe_forward_bf16_mma_sync",
        DType::Bf16 => "moe_forward_bf16",
        DType::F16 => "moe_forward_f16",
        DType::F32 => "moe_forward_f32",
    }
}

fn wait_name(kind: u32) -> &'static str {
    match kind {
        wait_kind::GRID_BARRIER => "the grid barrier after the gate",
        wait_kind::DISPATCH_FLAG => "a dispatch flag (routed rows from a peer)",
        wait_kind::RETURNED_ROWS => "expert outputs for this GPU's tokens (returned rows)",
        wait_kind::TASK_SLOT => "a task in the processor queue",
        wait_kind::TERMINATION => "termination (all tasks published)",
        _ => "an unknown wait",
    }
}

fn id(v: u32) -> String {
    if v == layout::NONE { "-".into() } else { v.to_string() }
}

impl<'c> MoeLayer<'c> {
    /// Builds the layer for `cfg` (`cfg.tokens` = most tokens per GPU a forward may carry):
    /// validates it, loads the kernel, sizes the grid from the occupancy API, allocates the heap,
    /// workspace and I/O buffers on every GPU.
    pub fn new(cluster: &'c Cluster, cfg: MoeConfig) -> Result<Self> {
        let world = cluster.len();
        cfg.validate(world)?;
        let elem = cfg.dtype.bytes() as usize;
        let mut ranks = Vec::with_capacity(world);
        let mut shapes = Vec::with_capacity(world);
        for g in cluster.gpus() {
            let name = kernel_name(cfg.dtype, g.ptx.arch);
            let kernel = g.function(name)?;
            kernel.set_max_dynamic_shared(SHARED_BYTES)?;
            let per_sm = kernel.max_blocks_per_sm(BLOCK_THREADS, SHARED_BYTES)?;
            if per_sm == 0 {
                return Err(Error::NoOccupancy { gpu: g.ordinal, kernel: name, per_sm });
            }
            let grid = per_sm * g.sms;
            let shape = Self::shape_for(&cfg, world, cfg.tokens, grid - 1);
            let ws = layout::workspace_layout(&shape);
            let heap = layout::heap_layout(&shape);
            let io = cfg.tokens * cfg.hidden * elem;
            let weights = Self::weight_bytes(&cfg, world);
            let need = ws.bytes as usize + heap.bytes as usize + 2 * io + weights;
            let (free, _) = g.context().memory_info()?;
            if need > free {
                return Err(ConfigError::OutOfMemory { what: "the layer", need_mib: need >> 20, have_mib: free >> 20 }.into());
            }
            let ctx = g.context();
            ranks.push(Rank {
                stream: Stream::new(ctx)?,
                kernel,
                grid,
                workspace: DeviceBuffer::alloc(ctx, ws.bytes as usize)?,
                input: DeviceBuffer::alloc(ctx, io)?,
                output: DeviceBuffer::alloc(ctx, io)?,
                weights: None,
                error: HostMapped::alloc(ctx, 1)?,
                timeline: None,
            });
            shapes.push(shape);
        }
        let heap_bytes = shapes.iter().map(|s| layout::heap_layout(s).bytes).max().unwrap_or(0);
        let heap = SymmetricHeap::new(cluster, heap_bytes as usize)?;
        Ok(MoeLayer { cluster, cfg, heap, ranks, epoch: 0, timeout: DEFAULT_TIMEOUT, hook: (test_hook::NONE, 0) })
    }

    fn shape_for(cfg: &MoeConfig, world: usize, tokens: usize, processors: u32) -> Shape {
        Shape {
            tokens: tokens as u32,
            hidden: cfg.hidden as u32,
            inter: cfg.inter as u32,
            experts: cfg.experts as u32,
            top_k: cfg.top_k as u32,
            capacity: capacity(tokens, cfg.top_k, cfg.experts, cfg.capacity_factor) as u32,
            world: world as u32,
            elem_bytes: cfg.dtype.bytes(),
            gated: cfg.gated,
            processors,
        }
    }

    fn weight_bytes(cfg: &MoeConfig, world: usize) -> usize {
        let (e, h, i) = (cfg.experts, cfg.hidden, cfg.inter);
        let local = e / world;
        let mats = if cfg.gated { 3 } else { 2 };
        (e * h + local * mats * h * i + local * (2 * i + h)) * cfg.dtype.bytes() as usize
    }

    pub fn config(&self) -> &MoeConfig {
        &self.cfg
    }

    pub fn cluster(&self) -> &Cluster {
        self.cluster
    }

    /// Blocks of the persistent grid on GPU `rank` (SMs x co-resident blocks per SM).
    pub fn grid(&self, rank: usize) -> u32 {
        self.ranks[rank].grid
    }

    /// Registers per thread the driver's JIT gave the kernel on GPU `rank`.
    pub fn kernel_registers(&self, rank: usize) -> Result<i32> {
        self.ranks[rank].kernel.registers()
    }

    /// Bytes of the symmetric heap on each GPU.
    pub fn heap_bytes(&self) -> usize {
        self.heap.bytes()
    }

    /// Bounds every wait inside the kernel; a wait past it fails the forward with [`Error::Timeout`].
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Test-only fault injection: the next forwards never raise the tile-0 dispatch flag of
    /// `expert` (`None` restores normal operation), so the owner must time out.
    pub fn inject_dropped_dispatch_flag(&mut self, expert: Option<u32>) {
        self.hook = match expert {
            Some(e) => (test_hook::DROP_DISPATCH_FLAG, e),
            None => (test_hook::NONE, 0),
        };
    }

    /// Uploads weights: the gate to every GPU, each GPU's experts (contiguous E / G) to it.
    pub fn load_weights(&mut self, w: &Weights) -> Result<()> {
        w.validate(&self.cfg)?;
        let (h, i, dt) = (self.cfg.hidden, self.cfg.inter, self.cfg.dtype);
        let local = self.cfg.experts / self.ranks.len();
        for (r, rank) in self.ranks.iter_mut().enumerate() {
            let ctx = self.cluster.gpus()[r].context();
            let upload = |v: &[f32]| -> Result<DeviceBuffer> {
                let bytes = numeric::encode_f32(dt, v);
                let b = DeviceBuffer::alloc(ctx, bytes.len())?;
                b.write(0, &bytes)?;
                Ok(b)
            };
            let slice = |v: &Vec<f32>, per: usize| -> Result<DeviceBuffer> { upload(&v[r * local * per..(r + 1) * local * per]) };
            rank.weights = Some(DeviceWeights {
                gate: upload(&w.gate)?,
                w1: slice(&w.w1, i * h)?,
                w3: w.w3.as_ref().map(|v| slice(v, i * h)).transpose()?,
                w2: slice(&w.w2, h * i)?,
                b1: w.b1.as_ref().map(|v| slice(v, i)).transpose()?,
                b3: w.b3.as_ref().map(|v| slice(v, i)).transpose()?,
                b2: w.b2.as_ref().map(|v| slice(v, h)).transpose()?,
            });
        }
        Ok(())
    }

    /// GPU `rank`'s input buffer, `[tokens][hidden]` of the layer's dtype.
    pub fn input_buffer(&self, rank: usize) -> &DeviceBuffer {
        &self.ranks[rank].input
    }

    /// GPU `rank`'s output buffer, `[tokens][hidden]` of the layer's dtype.
    pub fn output_buffer(&self, rank: usize) -> &DeviceBuffer {
        &self.ranks[rank].output
    }

    fn check_tokens(&self, tokens: usize) -> Result<()> {
        if tokens == 0 {
            return Err(ConfigError::Zero("tokens").into());
        }
        if tokens > self.cfg.tokens {
            return Err(ConfigError::TokensAboveMax(tokens, self.cfg.tokens).into());
        }
        Ok(())
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
        self.check_tokens(tokens)?;
        for (rank, xr) in self.ranks.iter().zip(x) {
            rank.input.write(0, &numeric::encode_f32(self.cfg.dtype, xr))?;
        }
        self.forward_device(tokens)?;
        let bytes = tokens * self.cfg.hidden * self.cfg.dtype.bytes() as usize;
        self.ranks
            .iter()
            .map(|r| {
                let mut out = vec![0u8; bytes];
                r.output.read(0, &mut out)?;
                Ok(numeric::decode(self.cfg.dtype, &out).into_iter().map(|v| v as f32).collect())
            })
            .collect()
    }

    /// Forward on the layer's device buffers ([`Self::input_buffer`] -> [`Self::output_buffer`])
    /// for `tokens` tokens per GPU: launches on every GPU, returns when all finished.
    pub fn forward_device(&mut self, tokens: usize) -> Result<()> {
        self.launch(tokens)?;
        self.wait()
    }

    /// Launches one forward on every GPU without waiting (see [`Self::wait`]).
    pub fn launch(&mut self, tokens: usize) -> Result<()> {
        self.check_tokens(tokens)?;
        self.epoch = self.epoch.checked_add(1).unwrap_or(1);
        let world = self.ranks.len();
        for r in 0..world {
            let mut p = self.params(r, tokens)?;
            let rank = &self.ranks[r];
            rank.error.set(0, ErrorRecord::default());
            let mut args = [&mut p as *mut MoeParams as *mut c_void];
            let cfg = LaunchConfig { grid: rank.grid, block: BLOCK_THREADS, shared_bytes: SHARED_BYTES };
            // SAFETY: the kernel takes one MoeParams by value; every pointer in it is owned by
            // this layer and outlives the launch (forward waits before returning).
            unsafe { rank.kernel.launch(&rank.stream, cfg, &mut args, true)? };
        }
        Ok(())
    }

    /// Waits for the launched forward on every GPU (bounded) and reports a kernel timeout as
    /// [`Error::Timeout`], after which the layer is ready for the next forward.
    pub fn wait(&mut self) -> Result<()> {
        let limit = self.timeout * 3 + Duration::from_secs(5);
        let start = Instant::now();
        for (r, rank) in self.ranks.iter().enumerate() {
            while !rank.stream.query()? {
                if start.elapsed() > limit {
                    return Err(Error::KernelHung { gpu: self.cluster.gpus()[r].ordinal, waited_ms: start.elapsed().as_millis() as u64 });
                }
                std::hint::spin_loop();
            }
        }
        let failed = self.ranks.iter().map(|r| r.error.get(0)).find(|e| e.code != error_code::NONE);
        if let Some(rec) = failed {
            // Leave the layer usable: clear the half-done barrier state and the error records.
            let shape = Self::shape_for(&self.cfg, self.ranks.len(), self.cfg.tokens, self.ranks[0].grid - 1);
            self.heap.reset_control(layout::heap_layout(&shape).control)?;
            for rank in &self.ranks {
                rank.error.set(0, ErrorRecord::default());
            }
            return Err(Error::Timeout {
                gpu: self.cluster.gpus()[rec.gpu as usize].ordinal,
                wait: wait_name(rec.wait),
                peer: id(rec.peer),
                expert: id(rec.expert),
                tile: id(rec.tile),
                epoch: rec.epoch,
                block: rec.block,
                observed: rec.observed,
                timeout_ms: self.timeout.as_millis() as u64,
            });
        }
        Ok(())
    }

    fn params(&self, r: usize, tokens: usize) -> Result<MoeParams> {
        let rank = &self.ranks[r];
        let w = rank.weights.as_ref().ok_or_else(|| Error::Weights("no weights loaded (call load_weights first)".into()))?;
        let world = self.ranks.len();
        let shape = Self::shape_for(&self.cfg, world, tokens, rank.grid - 1);
        let heap: HeapLayout = layout::heap_layout(&shape);
        let ws: WorkspaceLayout = layout::workspace_layout(&shape);
        let ptr = |b: &Option<DeviceBuffer>| b.as_ref().map_or(0, |b| b.ptr());
        let cfg = &self.cfg;
        let mut f = 0;
        if cfg.gated {
            f |= flags::GATED;
        }
        if cfg.bias {
            f |= flags::BIAS;
        }
        if cfg.renormalize {
            f |= flags::RENORMALIZE;
        }
        // A/B switch for measurements: also copy rows routed to this GPU's own experts.
        if std::env::var("FLASHMOE_COPY_LOCAL").as_deref() == Ok("1") {
            f |= flags::COPY_LOCAL;
        }
        Ok(MoeParams {
            tokens: shape.tokens,
            hidden: shape.hidden,
            inter: shape.inter,
            experts: shape.experts,
            top_k: shape.top_k,
            capacity: shape.capacity,
            world: world as u32,
            rank: r as u32,
            local_experts: shape.local_experts(),
            dtype: cfg.dtype as u32,
            activation: cfg.activation as u32,
            flags: f,
            epoch: self.epoch,
            test_hook: self.hook.0,
            test_hook_arg: self.hook.1,
            dispatch_blocks: layout::dispatch_blocks(rank.grid - 1, world as u32),
            dispatch_parts: layout::dispatch_parts(layout::dispatch_blocks(rank.grid - 1, world as u32), shape.experts),
            gate_splits: shape.gate_splits(),
            _pad0: 0,
            timeout_ns: self.timeout.as_nanos() as u64,
            x: rank.input.ptr(),
            gate_w: w.gate.ptr(),
            w1: w.w1.ptr(),
            w3: ptr(&w.w3),
            w2: w.w2.ptr(),
            b1: ptr(&w.b1),
            b3: ptr(&w.b3),
            b2: ptr(&w.b2),
            out: rank.output.ptr(),
            workspace: rank.workspace.ptr(),
            error: rank.error.device_ptr(),
            timeline: rank.timeline.as_ref().map_or(0, |b| b.ptr()),
            heaps: self.heap.bases(),
            heap,
            ws,
        })
    }

    /// The routing GPU `rank` decided in the last forward of `tokens` tokens.
    pub fn routing(&self, rank: usize, tokens: usize) -> Result<GpuRouting> {
        self.check_tokens(tokens)?;
        let r = &self.ranks[rank];
        let shape = Self::shape_for(&self.cfg, self.ranks.len(), tokens, r.grid - 1);
        let ws = layout::workspace_layout(&shape);
        let n = tokens * self.cfg.top_k;
        let mut expert = vec![0u8; n];
        let mut weight = vec![0f32; n];
        let mut slot = vec![0u32; n];
        r.workspace.read(ws.topk_expert as usize, &mut expert)?;
        r.workspace.read(ws.topk_weight as usize, &mut weight)?;
        r.workspace.read(ws.route_slot as usize, &mut slot)?;
        Ok(GpuRouting { expert, weight, slot })
    }

    /// Whether forwards record a per-block timeline (a few stores per block; for diagnostics).
    pub fn record_timeline(&mut self, on: bool) -> Result<()> {
        for (r, rank) in self.ranks.iter_mut().enumerate() {
            rank.timeline = if on {
                let bytes = rank.grid as usize * layout::timeline::SLOTS * 8;
                let b = DeviceBuffer::alloc(self.cluster.gpus()[r].context(), bytes)?;
                b.fill(0, bytes, 0)?;
                Some(b)
            } else {
                None
            };
        }
        Ok(())
    }

    /// The timeline GPU `rank` recorded in the last forward (None when not recording): one row
    /// per block, block 0 = the OS block.
    pub fn timeline(&self, rank: usize) -> Result<Option<Vec<[u64; layout::timeline::SLOTS]>>> {
        let r = &self.ranks[rank];
        let Some(b) = &r.timeline else { return Ok(None) };
        let mut flat = vec![0u64; r.grid as usize * layout::timeline::SLOTS];
        b.read(0, &mut flat)?;
        Ok(Some(flat.chunks_exact(layout::timeline::SLOTS).map(|c| c.try_into().unwrap_or([0; layout::timeline::SLOTS])).collect()))
    }

    /// Streams of the layer's GPUs (for timing with events).
    pub fn stream(&self, rank: usize) -> &Stream {
        &self.ranks[rank].stream
    }
}
