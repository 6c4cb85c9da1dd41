//! Every failure the library reports, typed. Nothing in the library panics on bad input.

use std::path::PathBuf;

use cudarc::driver::result::DriverError;

pub use flashmoe_kernels::layout::{FaultKind as Fault, WaitKind as Wait};

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
    #[error("GPU {gpu} (compute capability {major}.{minor}) cannot run the {arch} PTX build")]
    ArchNotRunnable { gpu: usize, arch: &'static str, major: i32, minor: i32 },
    #[error("no {dtype:?} kernel with the {mainloop:?} main loop in the {arch} PTX build")]
    NoSuchKernel { arch: &'static str, dtype: crate::config::DType, mainloop: crate::tuning::Mainloop },
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
        "GPU {gpu} timed out after {timeout_ms} ms waiting for {} (peer {}, expert {}, tile {}, epoch {epoch}, block {block}, last value {observed:#x})",
        wait.describe(),
        show(peer),
        show(expert),
        show(tile)
    )]
    Timeout {
        gpu: usize,
        wait: Wait,
        peer: Option<u32>,
        expert: Option<u32>,
        tile: Option<u32>,
        epoch: u32,
        block: u32,
        observed: u64,
        timeout_ms: u64,
    },
    #[error(
        "GPU {gpu}: {} (value {value}, bound {bound}; peer {}, expert {}, tile {}, epoch {epoch}, block {block}); the forward was stopped before using it",
        fault.describe(),
        show(peer),
        show(expert),
        show(tile)
    )]
    Fault {
        gpu: usize,
        fault: Fault,
        value: u64,
        bound: u64,
        peer: Option<u32>,
        expert: Option<u32>,
        tile: Option<u32>,
        epoch: u32,
        block: u32,
    },
    #[error("GPU {gpu}: the input of token {token} holds NaN or infinity (its gate logits are not finite); the forward was stopped")]
    NonFiniteInput { gpu: usize, token: u32 },
    /// Another GPU of the layer failed this forward (in one process per GPU, that rank's own
    /// error says why); this GPU's outputs are not valid.
    #[error("GPU {gpu}: the forward was stopped because {} failed it (epoch {epoch}); its error names the cause", by_whom(*peer))]
    PeerFailed { gpu: usize, peer: Option<u32>, epoch: u32 },
    #[error("GPU {gpu}: the kernel left an error record this build does not know (code {code}, kind {what})")]
    UnknownRecord { gpu: usize, code: u32, what: u32 },
    #[error("GPU {gpu}: the kernel did not finish within {waited_ms} ms although every wait inside it is bounded")]
    KernelHung { gpu: usize, waited_ms: u64 },
    #[error("a forward is in flight on this scratch arena: call wait() before {0}")]
    Busy(&'static str),
    #[error("rank {rank} does not exist: the layer spans {world} GPU(s)")]
    NoSuchRank { rank: usize, world: usize },
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("the scratch arena is unusable: a kernel on GPU {gpu} did not stop even after an abort; drop every layer using it")]
    Broken { gpu: usize },
    #[error("this forward graph was captured from another layer: replay a graph with the layer that captured it")]
    ForeignGraph,
    #[error("test hook: the launch failed on purpose after GPU rank {rank} started")]
    InjectedLaunchFailure { rank: usize },
    #[error("weight `{tensor}`: element {index} = {value} is not finite in {dtype:?}")]
    NotRepresentable { tensor: String, index: usize, value: f32, dtype: crate::config::DType },
    #[error("verification against the f64 reference failed: {0}")]
    VerificationFailed(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Multi-process set-up (environment, rendezvous).
    #[error(transparent)]
    Dist(#[from] crate::dist::DistError),
}

/// A Hugging Face checkpoint folder that cannot be loaded as a flashmoe layer (see
/// `flashmoe::hf`): every variant names the file, field, tensor or feature at fault.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: file not found")]
    MissingFile { path: PathBuf },
    #[error("{dir}: no weights (neither model.safetensors.index.json nor model.safetensors)")]
    NoWeights { dir: PathBuf },
    #[error("{path}: {what}")]
    Malformed { path: PathBuf, what: String },
    #[error("{path}: field `{field}` is missing")]
    MissingField { path: PathBuf, field: String },
    #[error("{path}: field `{field}` = {value} is not {expected}")]
    BadField { path: PathBuf, field: String, value: String, expected: String },
    #[error("{path}: model_type `{model_type}` is not a mixture-of-experts family flashmoe knows (known: {known})")]
    UnknownModelType { path: PathBuf, model_type: String, known: String },
    #[error("{path}: layer {layer} is out of range: the model has {layers} layers")]
    LayerOutOfRange { path: PathBuf, layer: usize, layers: usize },
    #[error("{model_type} layer {layer} is dense ({why}); pick a mixture-of-experts layer")]
    DenseLayer { model_type: String, layer: usize, why: String },
    /// `what` says which feature, e.g. "shared experts are not supported yet".
    #[error("{model_type} layer {layer}: {what}")]
    Unsupported { model_type: String, layer: usize, what: String },
    #[error("{path}: tensor `{key}` is missing")]
    MissingTensor { path: PathBuf, key: String },
    #[error(
        "{path}: tensor `{key}` is not part of a {model_type} mixture-of-experts layer (an unsupported feature, or a config that does not match the weights)"
    )]
    UnexpectedTensor { path: PathBuf, key: String, model_type: String },
    #[error("{path}: tensor `{key}` has shape {got:?}, expected {expected:?}")]
    WrongShape { path: PathBuf, key: String, got: Vec<usize>, expected: Vec<usize> },
    #[error("{path}: tensor `{key}` has dtype {dtype}; BF16, F16 or F32 expected")]
    UnsupportedDtype { path: PathBuf, key: String, dtype: String },
}

fn show(v: &Option<u32>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn by_whom(peer: Option<u32>) -> String {
    peer.map_or_else(|| "the host".into(), |r| format!("GPU rank {r}"))
}

impl Error {
    /// True when the machine simply has no usable GPU (the CLI exits with code 2 then).
    pub fn is_no_gpu(&self) -> bool {
        matches!(self, Error::NoDriver | Error::NoDevice)
    }
}
