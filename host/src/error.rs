//! Every failure the library reports, typed. Nothing in the library panics on bad input.

use cudarc::driver::result::DriverError;

use crate::config::ConfigError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no NVIDIA GPU: the CUDA driver library (libcuda.so) could not be loaded")]
    NoDriver,
    #[error("no NVIDIA GPU: the CUDA driver found no device")]
    NoDevice,
    #[error("CUDA call {call} failed: {source}")]
    Cuda {
        call: &'static str,
        #[source]
        source: DriverError,
    },
    #[error("GPU {gpu} has compute capability {major}.{minor}; flashmoe needs 8.x (Ampere) or 9.0 (Hopper)")]
    UnsupportedArch { gpu: usize, major: i32, minor: i32 },
    #[error("GPU {gpu} does not exist (this machine has {count})")]
    NoSuchGpu { gpu: usize, count: usize },
    #[error("no peer-to-peer access between GPU pairs {pairs:?}: every pair of GPUs in a cluster must reach each other")]
    NoPeerAccess { pairs: Vec<(usize, usize)> },
    #[error("GPU {gpu}: {blocks} blocks cannot all be co-resident for a cooperative launch")]
    CooperativeLaunchTooLarge { gpu: usize, blocks: u32 },
    #[error("GPU {gpu}: kernel `{kernel}` fits {per_sm} blocks per SM; the persistent kernel needs at least 1")]
    NoOccupancy { gpu: usize, kernel: &'static str, per_sm: u32 },
    #[error("the embedded PTX is not a valid C string")]
    InvalidPtx,
    #[error("{what}: {len} bytes at offset {offset} exceed the {size}-byte buffer")]
    OutOfBounds { what: &'static str, offset: usize, len: usize, size: usize },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{what} has {got} elements, expected {expected}")]
    ShapeMismatch { what: String, got: usize, expected: usize },
    #[error("weights: {0}")]
    Weights(String),
    #[error(
        "GPU {gpu} timed out after {timeout_ms} ms waiting for {wait} (peer {peer}, expert {expert}, tile {tile}, epoch {epoch}, block {block}, last value {observed:#x})"
    )]
    Timeout {
        gpu: usize,
        wait: &'static str,
        peer: String,
        expert: String,
        tile: String,
        epoch: u32,
        block: u32,
        observed: u64,
        timeout_ms: u64,
    },
    #[error("GPU {gpu}: the kernel did not finish within {waited_ms} ms although every wait inside it is bounded")]
    KernelHung { gpu: usize, waited_ms: u64 },
    #[error("verification against the f64 reference failed: {0}")]
    VerificationFailed(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// True when the machine simply has no usable GPU (the CLI exits with code 2 then).
    pub fn is_no_gpu(&self) -> bool {
        matches!(self, Error::NoDriver | Error::NoDevice)
    }
}
