//! Multi-process mode: which process this is (the launcher's environment), the rendezvous that
//! hands every rank the root's bootstrap bytes (NVSHMEM's unique id), which transport reaches
//! each peer (all CPU-tested), and, with the feature `nvshmem`, [`Process`]: this process's GPU
//! as its rank, on NVSHMEM's symmetric heap.
//!
//! One process per GPU is how PyTorch distributed, Megatron, vLLM and SGLang run; the
//! single-process [`crate::Cluster`] stays the default for one node.

mod env;
mod nvshmem;
#[cfg(feature = "nvshmem")]
mod process;
mod rendezvous;
mod transport;
mod worker;

pub use env::{DistEnv, Launcher};
pub use nvshmem::{HOST_LIBRARY, NvshmemHost, UNIQUE_ID_BYTES};
#[cfg(feature = "nvshmem")]
pub use process::Process;
pub use rendezvous::{BOOTSTRAP_BYTES, Rendezvous, rendezvous};
pub use transport::{PeerPlace, PutRoute, Transport, transports};

use std::time::Duration;

/// Why the multi-process set-up failed. Every variant names what was missing or wrong.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("environment variable {name} is not set (set by torchrun, mpirun, srun or `flashmoe launch`)")]
    MissingVar { name: &'static str },
    #[error("environment variable {name}={value:?} is not {expected}")]
    BadVar { name: &'static str, value: String, expected: &'static str },
    #[error("rank {rank} is not below the world size {world}")]
    RankOutOfRange { rank: usize, world: usize },
    #[error("local rank {local_rank} is not below the local world size {local_world}")]
    LocalRankOutOfRange { local_rank: usize, local_world: usize },
    #[error("rendezvous at {addr}: ranks {missing:?} of {world} did not arrive within {waited:?}")]
    RanksMissing { addr: String, missing: Vec<usize>, world: usize, waited: Duration },
    #[error("rendezvous at {addr}: no root answered within {waited:?} ({last_error})")]
    RootUnreachable { addr: String, waited: Duration, last_error: String },
    #[error("rendezvous at {addr}: {what}")]
    Protocol { addr: String, what: String },
    #[error(
        "NVSHMEM's host library was not found (tried {tried:?}): install the PyPI wheel nvidia-nvshmem-cu13 (or -cu12) and set NVSHMEM_HOME=<site-packages>/nvidia/nvshmem, or NVSHMEM_HOST_LIB to the library file"
    )]
    NvshmemMissing { tried: Vec<String> },
    #[error("{library} has no symbol {name}: {error} (NVSHMEM 3.x expected)")]
    NvshmemSymbol { name: &'static str, library: String, error: String },
    #[error("{call} returned {code}")]
    NvshmemCall { call: &'static str, code: i32 },
    #[error(
        "rank {peer}'s symmetric heap is not mapped into this GPU (no peer access within the node) and no rank allocated an outbox for puts: set FLASHMOE_TRANSPORT=put on every rank"
    )]
    PeerUnreachable { peer: usize },
    #[error(
        "{call} skipped: a forward of this multi-process run failed, a peer may have died or hung, and NVSHMEM's collectives would wait for it forever (the symmetric heap is leaked; restart every rank)"
    )]
    CollectivesAbandoned { call: &'static str },
    #[error(
        "{call} did not return within {waited:?}: NVSHMEM's set-up and collectives wait for every rank, and one may have died or hung; NVSHMEM is abandoned in this process (restart every rank)"
    )]
    CollectiveTimeout { call: &'static str, waited: Duration },
    #[error("rendezvous at {addr}: {source}")]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}
