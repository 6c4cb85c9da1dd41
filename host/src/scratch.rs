//! Scratch shared by layers: per GPU one symmetric heap, one workspace, the input and output
//! buffers and the error record, sized to cover the plan of every layer attached, plus the launch
//! epoch and what is in flight. A model runs its MoE layers one after another, so they can share
//! one `Scratch`: N layers cost N x weights + one scratch.
//!
//! The epoch counts launches on the arena (not per layer), so every word stamped with the current
//! epoch was written by the current launch, whichever layer wrote the older ones. At most one
//! forward is in flight per arena; every method that would touch memory a running kernel uses
//! checks that first.

use std::mem::offset_of;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use flashmoe_kernels::layout::{Control, ErrorCode, ErrorRecord, FaultKind, WaitKind};

use crate::config::ConfigError;
use crate::device::Cluster;
use crate::driver::{Context, DeviceBuffer, HostMapped, Stream};
use crate::error::{Error, Result};
use crate::heap::SymmetricHeap;
use crate::plan::{ArenaLayout, Plan};

/// Extra time the host grants a kernel beyond its own deadlines before calling it hung, and
/// after an abort before calling the arena broken.
const HOST_GRACE: Duration = Duration::from_secs(5);

/// Layer ids, unique in the process (not per arena): a [`crate::layer::ForwardGraph`] names the
/// layer it was captured from, and must never match another layer, on any arena.
static NEXT_LAYER: AtomicU64 = AtomicU64::new(1);

/// Arena ids, unique in the process.
static NEXT_ARENA: AtomicU64 = AtomicU64::new(1);

/// GPUs with a forward of several GPUs in flight, and the arena that launched it. A cooperative
/// kernel holds its whole GPU, so two arenas' forwards over the same GPUs could each wait for
/// the other's flags from a different GPU until both time out: a second is refused instead.
static GPUS_IN_FLIGHT: Mutex<Vec<(usize, u64)>> = Mutex::new(Vec::new());

/// A handle to a scratch arena; clones share it (see the module docs).
#[derive(Clone, Debug)]
pub struct Scratch {
    arena: Arc<Mutex<Arena>>,
}

/// One forward in flight (or the last one that finished).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flight {
    pub layer: u64,
    pub epoch: u32,
    pub tokens: usize,
}

#[derive(Debug)]
pub(crate) struct ArenaGpu {
    pub stream: Arc<Stream>,
    /// For the host's abort word: a copy on it reaches the heap while a kernel runs.
    control: Stream,
    pub error: HostMapped<ErrorRecord>,
    pub workspace: Arc<DeviceBuffer>,
    pub input: Arc<DeviceBuffer>,
    pub output: Arc<DeviceBuffer>,
}

/// One GPU's buffers sized by an [`ArenaLayout`] (replaced when the arena grows).
struct Buffers {
    workspace: Arc<DeviceBuffer>,
    input: Arc<DeviceBuffer>,
    output: Arc<DeviceBuffer>,
}

#[derive(Debug)]
pub(crate) struct Arena {
    id: u64,
    ordinals: Vec<usize>,
    contexts: Vec<Arc<Context>>,
    pub gpus: Vec<ArenaGpu>,
    pub heap: SymmetricHeap,
    pub layout: ArenaLayout,
    epoch: u32,
    pub in_flight: Option<Flight>,
    /// The last forward that completed without error.
    pub last: Option<Flight>,
    /// A GPU whose kernel would not stop: nothing may run or be freed any more.
    broken: Option<usize>,
    /// The symmetric heap comes from NVSHMEM (feature `nvshmem`; one GPU, one PE), reaching the
    /// other ranks by the route's transports.
    #[cfg(feature = "nvshmem")]
    nvshmem: Option<(Arc<crate::dist::NvshmemHost>, crate::dist::PutRoute)>,
}

impl Drop for Arena {
    /// A broken arena (a kernel that would not stop, even aborted) frees nothing: freeing device
    /// memory or releasing the last context reference waits for every kernel, so the process
    /// would hang at exit instead of reporting `Error::Broken`. Its memory is leaked instead.
    fn drop(&mut self) {
        if self.broken.is_some() {
            // Its GPUs also stay registered as running: its kernel may still hold them.
            self.heap.leak();
            self.gpus.drain(..).for_each(std::mem::forget);
            self.contexts.drain(..).for_each(std::mem::forget);
        } else {
            self.release_gpus();
        }
    }
}

impl Scratch {
    /// An empty arena on the GPUs of `cluster`; layers attached to it make it grow.
    pub fn new(cluster: &Cluster) -> Result<Scratch> {
        let contexts: Vec<Arc<Context>> = cluster.gpus().iter().map(|g| g.context().clone()).collect();
        let heap = SymmetricHeap::new(&contexts, 0)?;
        Self::with_heap(cluster, contexts, heap)
    }

    /// An empty arena whose symmetric heap is NVSHMEM's (`nvshmem_malloc`): the layer runs
    /// through NVSHMEM's heap with the kernels of the NVSHMEM build. The cluster is this
    /// process's one GPU as NVSHMEM's PE of the same rank, of as many PEs as the cluster's world
    /// (multi-process mode: [`crate::dist::Process`]), reaching the other ranks as `route` says
    /// (stores where mapped, NVSHMEM puts where not or where forced). Every rank must build the
    /// same layers on its scratch in the same order: growing the heap is collective.
    #[cfg(feature = "nvshmem")]
    pub fn with_nvshmem(cluster: &Cluster, host: Arc<crate::dist::NvshmemHost>, route: crate::dist::PutRoute) -> Result<Scratch> {
        let (me, pes) = host.pe()?;
        if cluster.len() != 1 || pes != cluster.world_size() || me != cluster.first_rank() {
            return Err(Error::Unavailable(
                "an NVSHMEM heap serves one GPU per process, as the PE of its rank in a world of as many PEs (dist::Process)",
            ));
        }
        let contexts: Vec<Arc<Context>> = cluster.gpus().iter().map(|g| g.context().clone()).collect();
        let heap = SymmetricHeap::nvshmem(&host, &contexts[0], 0, route)?;
        let scratch = Self::with_heap(cluster, contexts, heap)?;
        scratch.lock().nvshmem = Some((host, route));
        Ok(scratch)
    }

    fn with_heap(cluster: &Cluster, contexts: Vec<Arc<Context>>, heap: SymmetricHeap) -> Result<Scratch> {
        let layout = ArenaLayout::default();
        let gpus = contexts.iter().map(|ctx| ArenaGpu::new(ctx, &layout)).collect::<Result<Vec<_>>>()?;
        let arena = Arena {
            id: NEXT_ARENA.fetch_add(1, Ordering::Relaxed),
            ordinals: cluster.gpus().iter().map(|g| g.ordinal).collect(),
            contexts,
            gpus,
            heap,
            layout,
            epoch: 0,
            in_flight: None,
            last: None,
            broken: None,
            #[cfg(feature = "nvshmem")]
            nvshmem: None,
        };
        Ok(Scratch { arena: Arc::new(Mutex::new(arena)) })
    }

    /// Bit r: this arena's GPU reaches rank r by NVSHMEM puts (never without the NVSHMEM build).
    pub fn put_peers(&self) -> u32 {
        self.lock().heap.put_peers()
    }

    /// The NVSHMEM library this arena's heap comes from, if any.
    #[cfg(feature = "nvshmem")]
    pub fn nvshmem(&self) -> Option<Arc<crate::dist::NvshmemHost>> {
        self.lock().nvshmem.as_ref().map(|(host, _)| host.clone())
    }

    /// The arena, locked. Nothing panics while holding it, so a poisoned lock is still consistent.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Arena> {
        self.arena.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes the arena holds on each GPU (heap, workspace, input, output).
    pub fn bytes_per_gpu(&self) -> u64 {
        self.lock().layout.bytes_per_gpu()
    }

    /// Test hook: the next launch on this arena gets epoch `epoch + 1` (to test the wrap at 2^32).
    #[doc(hidden)]
    pub fn set_epoch_for_test(&self, epoch: u32) -> Result<()> {
        let mut a = self.lock();
        a.idle("setting the epoch")?;
        a.epoch = epoch;
        Ok(())
    }
}

impl Buffers {
    fn new(ctx: &Arc<Context>, layout: &ArenaLayout) -> Result<Buffers> {
        let zeroed = |bytes: u64| -> Result<Arc<DeviceBuffer>> {
            let b = DeviceBuffer::alloc(ctx, bytes as usize)?;
            b.fill(0, bytes as usize, 0)?;
            Ok(Arc::new(b))
        };
        Ok(Buffers { workspace: zeroed(layout.ws.bytes)?, input: zeroed(layout.io_bytes)?, output: zeroed(layout.io_bytes)? })
    }
}

impl ArenaGpu {
    fn new(ctx: &Arc<Context>, layout: &ArenaLayout) -> Result<ArenaGpu> {
        let Buffers { workspace, input, output } = Buffers::new(ctx, layout)?;
        Ok(ArenaGpu {
            stream: Arc::new(Stream::new(ctx)?),
            control: Stream::new(ctx)?,
            error: HostMapped::alloc(ctx, 1)?,
            workspace,
            input,
            output,
        })
    }
}

impl Arena {
    /// Ok when nothing is in flight and the arena is usable.
    pub fn idle(&self, what: &'static str) -> Result<()> {
        if let Some(gpu) = self.broken {
            return Err(Error::Broken { gpu });
        }
        if self.in_flight.is_some() {
            return Err(Error::Busy(what));
        }
        Ok(())
    }

    /// A symmetric heap of `bytes` from the arena's allocator.
    fn new_heap(&self, bytes: usize) -> Result<SymmetricHeap> {
        #[cfg(feature = "nvshmem")]
        if let Some((host, route)) = &self.nvshmem {
            return SymmetricHeap::nvshmem(host, &self.contexts[0], bytes, *route);
        }
        SymmetricHeap::new(&self.contexts, bytes)
    }

    /// Whether this arena lives on the GPUs of `cluster`, in its order.
    pub fn serves_cluster(&self, cluster: &Cluster) -> bool {
        cluster.gpus().iter().map(|g| g.ordinal).eq(self.ordinals.iter().copied())
    }

    /// Attaches a layer with `plan`: grows the arena to cover it (fresh, zeroed buffers; the old
    /// are kept until the new are allocated, so a failure loses nothing; streams stay). Returns
    /// the layer's id (unique in the process).
    pub fn attach(&mut self, plan: &Plan) -> Result<u64> {
        self.idle("attaching a layer")?;
        if !self.layout.serves(plan) {
            let layout = self.layout.cover(&ArenaLayout::of(plan));
            let grow = layout.bytes_per_gpu().saturating_sub(self.layout.bytes_per_gpu());
            for ctx in &self.contexts {
                let (free, _) = ctx.memory_info()?;
                if grow > free as u64 {
                    return Err(ConfigError::OutOfMemory {
                        what: "the scratch arena",
                        need_mib: (grow >> 20) as usize,
                        have_mib: free >> 20,
                    }
                    .into());
                }
            }
            let buffers = self.contexts.iter().map(|ctx| Buffers::new(ctx, &layout)).collect::<Result<Vec<_>>>()?;
            let heap = self.new_heap(layout.heap.bytes as usize)?;
            for (g, b) in self.gpus.iter_mut().zip(buffers) {
                (g.workspace, g.input, g.output) = (b.workspace, b.input, b.output);
            }
            self.heap = heap;
            self.layout = layout;
            self.last = None;
        }
        Ok(NEXT_LAYER.fetch_add(1, Ordering::Relaxed))
    }

    /// Starts a forward of `layer`: the next epoch, the error records cleared. At the wrap of the
    /// 32-bit epoch every word that is valid by epoch is cleared first, so none can read as current.
    pub fn begin(&mut self, layer: u64, tokens: usize) -> Result<u32> {
        self.idle("launching")?;
        self.claim_gpus()?;
        let epoch = match self.epoch.checked_add(1) {
            Some(e) => e,
            None => {
                if let Err(e) = self.clear_epoch_words() {
                    self.release_gpus();
                    return Err(e);
                }
                1
            }
        };
        for g in &self.gpus {
            g.error.set(0, ErrorRecord::default());
        }
        self.epoch = epoch;
        self.last = None;
        self.in_flight = Some(Flight { layer, epoch, tokens });
        Ok(epoch)
    }

    /// Registers this arena's GPUs as running a forward (several GPUs only, see
    /// [`GPUS_IN_FLIGHT`]); Busy when another arena's forward runs on one of them.
    fn claim_gpus(&self) -> Result<()> {
        if self.ordinals.len() < 2 {
            return Ok(());
        }
        let mut busy = GPUS_IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        if busy.iter().any(|&(o, a)| a != self.id && self.ordinals.contains(&o)) {
            return Err(Error::Busy("launching: another scratch arena's forward runs on these GPUs (wait for it, or share one Scratch)"));
        }
        busy.extend(self.ordinals.iter().map(|&o| (o, self.id)));
        Ok(())
    }

    fn release_gpus(&self) {
        if self.ordinals.len() > 1 {
            GPUS_IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner()).retain(|&(_, a)| a != self.id);
        }
    }

    /// Nothing in flight any more.
    fn end_flight(&mut self) {
        self.in_flight = None;
        self.release_gpus();
    }

    fn clear_epoch_words(&self) -> Result<()> {
        let ((control, control_bytes), (queue, queue_bytes)) = self.layout.epoch_regions();
        self.heap.clear(control, control_bytes)?;
        for g in &self.gpus {
            g.workspace.fill(queue as usize, queue_bytes as usize, 0)?;
        }
        Ok(())
    }

    /// Tells the kernels of the forward in flight on every GPU to stop (the abort word = its epoch).
    fn abort(&self, epoch: u32) -> Result<()> {
        (0..self.gpus.len()).try_for_each(|r| self.abort_gpu(r, epoch))
    }

    /// The abort word of GPU `r`'s heap set to `epoch`, through its control stream (`abort_by`
    /// first: the host, not a GPU, stopped it).
    fn abort_gpu(&self, r: usize, epoch: u32) -> Result<()> {
        let at = |field: usize| (self.layout.heap.control + field as u64) as usize;
        match (self.heap.buffers().get(r), self.gpus.get(r)) {
            (Some(buf), Some(g)) => {
                buf.write_u32_now(&g.control, at(offset_of!(Control, abort_by)), flashmoe_kernels::layout::NONE)?;
                buf.write_u32_now(&g.control, at(offset_of!(Control, abort)), epoch)
            }
            _ => Ok(()),
        }
    }

    /// Waits until the streams of `ranks` are idle or `limit` passed: Ok(None) when idle, else
    /// the first rank still running.
    ///
    /// A spin on `cuStreamQuery` (no `cuStreamSynchronize`: it cannot be bounded). Each GPU's
    /// context is made current once, before its polls, not once per poll: nothing else runs on
    /// this thread in between. (Not once per thread either: a caller's own CUDA code, PyTorch's
    /// `cudaSetDevice` say, may switch it between two forwards.)
    fn drain(&self, ranks: usize, limit: Duration) -> Result<Option<usize>> {
        let start = Instant::now();
        for r in 0..ranks.min(self.gpus.len()) {
            if !self.idle_by(r, start, limit)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// Spins until GPU `r`'s stream is idle (true) or `limit` has passed since `start` (false).
    fn idle_by(&self, r: usize, start: Instant, limit: Duration) -> Result<bool> {
        let stream = &self.gpus[r].stream;
        stream.context().bind()?;
        while !stream.query_bound()? {
            if start.elapsed() > limit {
                return Ok(false);
            }
            std::hint::spin_loop();
        }
        Ok(true)
    }

    /// Ends the forward in flight after a launch failed on some GPU: aborts the `started` ones,
    /// waits for them, and leaves the arena ready (or broken if one will not stop).
    pub fn abandon(&mut self, started: usize) -> Result<()> {
        let Some(f) = self.in_flight else { return Ok(()) };
        self.abort(f.epoch)?;
        if let Some(r) = self.drain(started, HOST_GRACE)? {
            self.broken = Some(self.ordinals[r]);
            return Err(Error::Broken { gpu: self.ordinals[r] });
        }
        self.heap.clear(self.layout.heap.control, std::mem::size_of::<Control>() as u64)?;
        self.end_flight();
        Ok(())
    }

    /// Waits (bounded by the kernel's own deadline, `timeout`, plus grace) for the forward in
    /// flight, and turns what the kernels recorded into a typed error. Afterwards the arena is
    /// ready for the next forward, unless a kernel would not stop even when aborted. A failed
    /// forward abandons NVSHMEM's collectives: in a multi-process run every rank's forward fails
    /// together, and a peer may be gone.
    pub fn finish(&mut self, timeout: Duration) -> Result<()> {
        let result = self.finish_flight(timeout);
        if result.is_err() {
            self.heap.abandon_collectives();
        }
        result
    }

    fn finish_flight(&mut self, timeout: Duration) -> Result<()> {
        let Some(f) = self.in_flight else { return Ok(()) };
        let world = self.gpus.len();
        // The kernel's last deadline is 1.5 x timeout after its start.
        let limit = timeout.saturating_mul(2).saturating_add(HOST_GRACE);
        let started = Instant::now();
        let hung = match self.drain(world, limit) {
            Ok(h) => h,
            Err(e) => {
                // A failed kernel leaves a sticky error on its GPU's context. The other GPUs'
                // kernels may still wait for its flags: stop them before the arena counts as
                // idle (their memory may be freed or reused after).
                self.stop_survivors(f.epoch);
                self.end_flight();
                return Err(e);
            }
        };
        if let Some(r) = hung {
            let waited_ms = started.elapsed().as_millis() as u64;
            self.abandon(world)?;
            return Err(Error::KernelHung { gpu: self.ordinals[r], waited_ms });
        }
        self.end_flight();
        let Some(rec) = first_failure(self.gpus.iter().filter_map(|g| g.error.get(0))) else {
            self.last = Some(f);
            return Ok(());
        };
        // Clear the half-done barrier and queue words; abort and claim hold the epoch anyway.
        self.heap.clear(self.layout.heap.control, std::mem::size_of::<Control>() as u64)?;
        Err(self.error_of(&rec, timeout))
    }

    /// After one GPU failed: the abort word to every GPU whose context still works, then a wait
    /// (bounded by [`HOST_GRACE`]) for each of them. A kernel that will not stop makes the
    /// arena broken; a GPU whose context failed is skipped (its kernel is gone).
    fn stop_survivors(&mut self, epoch: u32) {
        for r in 0..self.gpus.len() {
            let _ = self.abort_gpu(r, epoch);
        }
        let start = Instant::now();
        for r in 0..self.gpus.len() {
            // An error: that GPU's context failed, its kernel is gone.
            if let Ok(false) = self.idle_by(r, start, HOST_GRACE) {
                self.broken = Some(self.ordinals[r]);
                return;
            }
        }
    }

    fn error_of(&self, rec: &ErrorRecord, timeout: Duration) -> Error {
        let gpu = self.ordinals.get(rec.gpu as usize).copied().unwrap_or(rec.gpu as usize);
        let id = |v: u32| (v != flashmoe_kernels::layout::NONE).then_some(v);
        let unknown = Error::UnknownRecord { gpu, code: rec.code, what: rec.what };
        if rec.code == ErrorCode::Fault as u32 {
            match FaultKind::from_u32(rec.what) {
                Some(FaultKind::NonFiniteInput) => Error::NonFiniteInput { gpu, token: rec.tile },
                Some(fault) => Error::Fault {
                    gpu,
                    fault,
                    value: rec.observed,
                    bound: rec.bound,
                    peer: id(rec.peer),
                    expert: id(rec.expert),
                    tile: id(rec.tile),
                    epoch: rec.epoch,
                    block: rec.block,
                },
                None => unknown,
            }
        } else if rec.code == ErrorCode::PeerAborted as u32 {
            Error::PeerFailed { gpu, peer: id(rec.peer), epoch: rec.epoch }
        } else if let (true, Some(wait)) = (rec.code == ErrorCode::Timeout as u32, WaitKind::from_u32(rec.what)) {
            Error::Timeout {
                gpu,
                wait,
                peer: id(rec.peer),
                expert: id(rec.expert),
                tile: id(rec.tile),
                epoch: rec.epoch,
                block: rec.block,
                observed: rec.observed,
                timeout_ms: timeout.as_millis() as u64,
            }
        } else {
            unknown
        }
    }

    /// Whether the kernel of `layer` may still be running (its memory must not be freed).
    pub fn running(&self, layer: u64) -> bool {
        self.in_flight.is_some_and(|f| f.layer == layer) || self.broken.is_some()
    }
}

/// The record a failed forward reports: the first GPU's own failure, else the first GPU that
/// only saw another's abort ([`ErrorCode::PeerAborted`]: in one process, the failing GPU's record
/// is among them and names the cause).
fn first_failure(records: impl Iterator<Item = ErrorRecord>) -> Option<ErrorRecord> {
    let mut stopped = None;
    for rec in records.filter(|r| r.code != ErrorCode::None as u32) {
        if rec.code != ErrorCode::PeerAborted as u32 {
            return Some(rec);
        }
        stopped = stopped.or(Some(rec));
    }
    stopped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(gpu: u32, code: ErrorCode) -> ErrorRecord {
        ErrorRecord { code: code as u32, gpu, ..ErrorRecord::default() }
    }

    #[test]
    fn a_gpus_own_failure_outranks_the_gpus_it_stopped() {
        let ok = record(0, ErrorCode::None);
        let stopped = record(1, ErrorCode::PeerAborted);
        let timeout = record(2, ErrorCode::Timeout);
        assert_eq!(first_failure([ok, ok].into_iter()), None);
        assert_eq!(first_failure([ok, stopped, timeout].into_iter()), Some(timeout));
        assert_eq!(first_failure([stopped, record(3, ErrorCode::Fault), timeout].into_iter()).map(|r| r.gpu), Some(3));
        // One process per GPU: a rank that only saw the abort still fails its forward.
        assert_eq!(first_failure([stopped].into_iter()), Some(stopped));
    }
}
