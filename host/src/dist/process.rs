//! One process of a multi-process run (feature `nvshmem`): this process's GPU as its rank, and
//! NVSHMEM initialised by a unique id that rank 0 hands every rank through the rendezvous.
//!
//! ```no_run
//! # #[cfg(feature = "nvshmem")] {
//! use std::time::Duration;
//! use flashmoe::{MoeConfig, MoeLayer, dist::Process};
//!
//! // Under torchrun, mpirun, srun or `flashmoe launch`: one process per GPU.
//! let p = Process::from_env(Duration::from_secs(60))?.expect("run under a launcher");
//! let scratch = p.scratch()?;
//! let cfg = MoeConfig { tokens: 4096, experts: 8 * p.cluster().world_size(), ..MoeConfig::default() };
//! let mut layer = MoeLayer::builder(p.cluster(), cfg).scratch(&scratch).build()?;
//! // layer.load_weights(&all_weights)?;         this rank takes its experts' share
//! // let y = layer.forward(&[&this_ranks_tokens])?;
//! # }
//! # Ok::<(), flashmoe::Error>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use super::{DistEnv, DistError, NvshmemHost, Rendezvous, UNIQUE_ID_BYTES, rendezvous};
use crate::device::Cluster;
use crate::error::Result;
use crate::scratch::Scratch;

/// This process's rank: its GPU, its place, and NVSHMEM (see the module docs).
#[derive(Debug)]
pub struct Process {
    env: DistEnv,
    cluster: Cluster,
    host: Arc<NvshmemHost>,
}

impl Process {
    /// From the launcher's environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
    /// MASTER_ADDR, MASTER_PORT or the MPI / Slurm equivalents); None without one (run the
    /// single-process [`Cluster`] instead). `timeout` bounds the rendezvous and every NVSHMEM
    /// call after it (set-up, heap allocations, finalize): a rank that dies or hangs there fails
    /// the others with [`DistError::CollectiveTimeout`].
    pub fn from_env(timeout: Duration) -> Result<Option<Process>> {
        match DistEnv::from_process()? {
            Some(env) => Self::init(env, timeout).map(Some),
            None => Ok(None),
        }
    }

    /// Opens GPU `env.local_rank` as rank `env.rank`, meets the other ranks (rank 0 listens at
    /// MASTER_PORT and hands out NVSHMEM's unique id; a rank that does not arrive within
    /// `timeout` fails every rank with an error naming it) and initialises NVSHMEM as PE
    /// `env.rank` of `env.world_size` on the GPU's primary context.
    pub fn init(env: DistEnv, timeout: Duration) -> Result<Process> {
        let cluster = Cluster::rank_of_world(env.local_rank, env.rank, env.world_size)?;
        cluster.gpus()[0].context().bind()?;
        let host = Arc::new(NvshmemHost::load()?);
        let id = if env.rank == 0 {
            let id = host.unique_id()?;
            if env.world_size > 1 {
                Rendezvous::bind(env.master_port, timeout)?.serve(env.world_size, &id, timeout)?;
            }
            id
        } else {
            let bytes = rendezvous(&env.master_addr, env.master_port, env.rank, env.world_size, timeout)?;
            <[u8; UNIQUE_ID_BYTES]>::try_from(bytes.as_slice()).map_err(|_| DistError::Protocol {
                addr: format!("{}:{}", env.master_addr, env.master_port),
                what: format!("{} bootstrap bytes, expected NVSHMEM's {UNIQUE_ID_BYTES}-byte unique id", bytes.len()),
            })?
        };
        host.init(env.rank, env.world_size, &id, timeout)?;
        Ok(Process { env, cluster, host })
    }

    /// This process's GPU as rank [`Cluster::first_rank`] of [`Cluster::world_size`].
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The launcher's view of this process.
    pub fn env(&self) -> &DistEnv {
        &self.env
    }

    /// A scratch arena on NVSHMEM's symmetric heap for this process's layers: peers on this
    /// node by stores, other nodes (or every peer, with `FLASHMOE_TRANSPORT=put`) by NVSHMEM
    /// puts. Every rank makes the same scratches and builds the same layers on them in the same
    /// order (the heap grows collectively).
    pub fn scratch(&self) -> Result<Scratch> {
        let route = crate::dist::PutRoute { force: self.env.force_put, local_world: self.env.local_world_size };
        Scratch::with_nvshmem(&self.cluster, self.host.clone(), route)
    }

    /// NVSHMEM's host library as this process loaded it.
    pub fn nvshmem(&self) -> &Arc<NvshmemHost> {
        &self.host
    }

    /// Ends NVSHMEM for this process (collective: every rank calls it), after every layer and
    /// scratch of it has been dropped. Once a forward failed this is skipped and returns
    /// [`DistError::CollectivesAbandoned`] (a peer may be gone; NVSHMEM would wait for it
    /// forever): the process should exit.
    pub fn finalize(self) -> Result<()> {
        self.host.finalize()?;
        Ok(())
    }
}
