//! flashmoe: a whole Mixture-of-Experts layer forward (gate, dispatch, expert FFNs, combine) as
//! one persistent GPU kernel per GPU, with device-initiated transfers between GPUs.
//!
//! ```no_run
//! use flashmoe::{Cluster, MoeConfig, MoeLayer, Weights};
//! let cluster = Cluster::all_local()?;
//! let config = MoeConfig { tokens: 1024, ..MoeConfig::default() };
//! let mut layer = MoeLayer::new(&cluster, config.clone())?;
//! layer.load_weights(&Weights::random(&config, 7))?;
//! let x = vec![vec![0.5f32; 1024 * config.hidden]; cluster.len()];
//! let y = layer.forward(&x.iter().map(|v| v.as_slice()).collect::<Vec<_>>())?;
//! assert_eq!(y.len(), cluster.len());
//! # Ok::<(), flashmoe::Error>(())
//! ```

pub mod config;
pub mod device;
pub mod dist;
pub mod driver;
pub mod error;
pub mod heap;
pub mod heuristics;
#[cfg(feature = "safetensors")]
pub mod hf;
pub mod kernels;
pub mod layer;
pub mod numeric;
pub mod plan;
#[cfg(feature = "testing")]
pub mod reference;
#[cfg(feature = "safetensors")]
mod safetensors_io;
pub mod scratch;
pub mod timing;
pub mod tuning;
#[cfg(feature = "testing")]
pub mod verify;
pub mod weights;

pub use config::{Activation, ConfigError, DType, MoeConfig, Router, SharedExpert};
pub use device::{Cluster, Gpu};
pub use error::{CheckpointError, Error, Fault, Result, Wait};
#[cfg(feature = "safetensors")]
pub use hf::HfLayer;
pub use layer::{ForwardGraph, GpuRouting, LeanLaunch, MoeLayer, MoeLayerBuilder};
pub use plan::Plan;
#[cfg(feature = "safetensors")]
pub use safetensors_io::Unused;
pub use scratch::Scratch;
pub use tuning::{Mainloop, OwnRows, Tuning};
pub use weights::Weights;

/// The kernel entry table: PTX builds, entry points, launch shapes.
pub use flashmoe_kernels::entries::{self, Arch};
/// The kernel crate's shared `#[repr(C)]` types.
pub use flashmoe_kernels::layout;
