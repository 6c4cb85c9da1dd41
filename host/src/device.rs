//! The GPUs of one node: contexts, capabilities, peer access, and each GPU's loaded kernels.

use std::sync::{Arc, OnceLock};

use cudarc::driver::sys::CUdevice_attribute as Attr;

use flashmoe_kernels::entries::Arch;

use crate::driver::{self, Context, Function, Module};
use crate::error::{Error, Result};
use crate::kernels;

/// One GPU of a [`Cluster`].
#[derive(Debug)]
pub struct Gpu {
    pub ordinal: usize,
    pub name: String,
    pub compute_capability: (i32, i32),
    pub sms: u32,
    pub memory_bytes: usize,
    /// The PTX builds this device runs, best first.
    pub archs: &'static [Arch],
    ctx: Arc<Context>,
    /// One JIT-compiled module per build, loaded on first use.
    modules: [OnceLock<Module>; Arch::ALL.len()],
    /// The NVSHMEM build's module, loaded and `nvshmemx_cumodule_init`ed on first use.
    #[cfg(feature = "nvshmem")]
    nvshmem_module: OnceLock<Module>,
}

impl Gpu {
    fn open(ordinal: usize) -> Result<Self> {
        let ctx = Context::new(ordinal)?;
        let (major, minor) = ctx.compute_capability()?;
        Ok(Gpu {
            ordinal,
            name: ctx.name()?,
            compute_capability: (major, minor),
            sms: ctx.attribute(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as u32,
            memory_bytes: ctx.total_memory()?,
            archs: kernels::for_compute_capability(ordinal, major, minor)?,
            ctx,
            modules: Default::default(),
            #[cfg(feature = "nvshmem")]
            nvshmem_module: OnceLock::new(),
        })
    }

    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The best PTX build this device runs.
    pub fn arch(&self) -> Arch {
        self.archs[0]
    }

    /// A kernel of the device's best PTX build.
    pub fn function(&self, name: &str) -> Result<Function> {
        self.function_in(self.arch(), name)
    }

    /// A kernel of the build `arch` (its module loaded on first use: the cubin made at build time,
    /// else the PTX compiled by the driver); an error if this device cannot run that build.
    pub fn function_in(&self, arch: Arch, name: &str) -> Result<Function> {
        if !self.archs.contains(&arch) {
            let (major, minor) = self.compute_capability;
            return Err(Error::ArchNotRunnable { gpu: self.ordinal, arch: arch.name(), major, minor });
        }
        let slot = &self.modules[Arch::ALL.iter().position(|a| *a == arch).unwrap_or(0)];
        if slot.get().is_none() {
            let m = Module::load(&self.ctx, kernels::cubin(arch), kernels::ptx(arch))?;
            // A racing thread may have loaded it too; either module is equivalent.
            let _ = slot.set(m);
        }
        slot.get().ok_or(Error::InvalidPtx)?.function(name)
    }
}

#[cfg(feature = "nvshmem")]
impl Gpu {
    /// A kernel of the NVSHMEM build (the sm_90a kernels linked with NVSHMEM's device library):
    /// its module is loaded once and handed to `nvshmemx_cumodule_init` before any launch.
    pub fn nvshmem_function(&self, host: &crate::dist::NvshmemHost, name: &str) -> Result<Function> {
        use flashmoe_kernels::entries::NVSHMEM_ARCH;
        if !self.archs.contains(&NVSHMEM_ARCH) {
            let (major, minor) = self.compute_capability;
            return Err(Error::ArchNotRunnable { gpu: self.ordinal, arch: NVSHMEM_ARCH.name(), major, minor });
        }
        if self.nvshmem_module.get().is_none() {
            let m = Module::load(&self.ctx, kernels::nvshmem_cubin(), kernels::nvshmem_ptx())?;
            host.cumodule_init(&m)?;
            // A racing thread may have loaded one too: only the module kept here is used.
            let _ = self.nvshmem_module.set(m);
        }
        self.nvshmem_module.get().ok_or(Error::InvalidPtx)?.function(name)
    }
}

/// The GPUs a layer runs on, with peer access enabled between every pair.
///
/// ```no_run
/// use flashmoe::Cluster;
///
/// let all = Cluster::all_local()?;          // every GPU of this machine
/// let two = Cluster::with_devices(&[2, 3])?; // ranks 0 and 1 = GPUs 2 and 3
/// for g in all.gpus() {
///     println!("GPU {}: {} ({} SMs, {} PTX)", g.ordinal, g.name, g.sms, g.arch().name());
/// }
/// # Ok::<(), flashmoe::Error>(())
/// ```
/// Without a GPU every constructor returns an error for which [`crate::Error::is_no_gpu`] holds.
///
/// In multi-process mode (one process per GPU, [`crate::dist::Process`]) a cluster holds this
/// process's one GPU as rank [`Self::first_rank`] of [`Self::world_size`] ranks; the others are
/// the peer processes' GPUs, reached through NVSHMEM's symmetric heap.
#[derive(Debug)]
pub struct Cluster {
    gpus: Vec<Gpu>,
    peer_access: Vec<Vec<bool>>,
    /// The rank of `gpus[0]` among all ranks, and how many ranks there are (a single process:
    /// 0 and `gpus.len()`).
    first_rank: usize,
    world_size: usize,
}

impl Cluster {
    /// Every GPU of this machine.
    pub fn all_local() -> Result<Self> {
        let n = driver::init()?;
        Self::open((0..n).collect())
    }

    /// The GPUs with these ordinals, in this order (rank i = `ordinals[i]`).
    pub fn with_devices(ordinals: &[usize]) -> Result<Self> {
        let n = driver::init()?;
        if let Some(&gpu) = ordinals.iter().find(|&&o| o >= n) {
            return Err(Error::NoSuchGpu { gpu, count: n });
        }
        Self::open(ordinals.to_vec())
    }

    /// The first `count` GPUs.
    pub fn first(count: usize) -> Result<Self> {
        Self::with_devices(&(0..count).collect::<Vec<_>>())
    }

    /// GPU `ordinal` as rank `rank` of `world_size` ranks, one per process (multi-process mode;
    /// see [`crate::dist::Process`], which makes this from the launcher's environment).
    pub fn rank_of_world(ordinal: usize, rank: usize, world_size: usize) -> Result<Self> {
        if rank >= world_size || world_size > flashmoe_kernels::layout::MAX_WORLD {
            return Err(Error::NoSuchRank { rank, world: world_size });
        }
        let mut c = Self::with_devices(&[ordinal])?;
        (c.first_rank, c.world_size) = (rank, world_size);
        Ok(c)
    }

    fn open(ordinals: Vec<usize>) -> Result<Self> {
        let gpus = ordinals.into_iter().map(Gpu::open).collect::<Result<Vec<_>>>()?;
        let mut peer_access = vec![vec![true; gpus.len()]; gpus.len()];
        let mut missing = Vec::new();
        for (i, a) in gpus.iter().enumerate() {
            for (j, b) in gpus.iter().enumerate() {
                if i != j && !a.ctx.can_access_peer(&b.ctx)? {
                    peer_access[i][j] = false;
                    missing.push((a.ordinal, b.ordinal));
                }
            }
        }
        // Report every unreachable pair at once, before touching any of them.
        if !missing.is_empty() {
            return Err(Error::NoPeerAccess { pairs: missing });
        }
        for a in &gpus {
            for b in &gpus {
                if a.ordinal != b.ordinal {
                    a.ctx.enable_peer_access(&b.ctx)?;
                }
            }
        }
        let world_size = gpus.len();
        Ok(Cluster { gpus, peer_access, first_rank: 0, world_size })
    }

    pub fn gpus(&self) -> &[Gpu] {
        &self.gpus
    }

    /// GPUs this process drives (one in multi-process mode).
    pub fn len(&self) -> usize {
        self.gpus.len()
    }

    /// Ranks of the whole layer: every process's GPUs ([`Self::len`] in single-process mode).
    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// The rank of this process's first GPU (0 in single-process mode).
    pub fn first_rank(&self) -> usize {
        self.first_rank
    }

    /// Whether other processes drive some of the ranks.
    pub fn is_multi_process(&self) -> bool {
        self.world_size != self.gpus.len()
    }

    pub fn is_empty(&self) -> bool {
        self.gpus.is_empty()
    }

    /// `[i][j]`: GPU i can map GPU j's memory (all true once a cluster exists).
    pub fn peer_access(&self) -> &[Vec<bool>] {
        &self.peer_access
    }
}
