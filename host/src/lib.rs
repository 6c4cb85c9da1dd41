//! flashmoe: a whole Mixture-of-Experts layer forward (gate, dispatch, expert FFNs, combine) as
//! one persistent GPU kernel per GPU, with device-initiated transfers between GPUs.
//!
//! ```no_run
//! use flashmoe::{Cluster, MoeConfig};
//! let cluster = Cluster::all_local()?;
//! for gpu in cluster.gpus() {
//!     println!("{} {} SMs", gpu.name, gpu.sms);
//! }
//! # let _ = MoeConfig::default();
//! # Ok::<(), flashmoe::Error>(())
//! ```

pub mod bench;
pub mod cli;
pub mod config;
pub mod device;
pub mod driver;
pub mod error;
pub mod heap;
pub mod kernels;
pub mod layer;
pub mod numeric;
pub mod reference;
pub mod verify;
pub mod weights;

pub use config::{Activation, ConfigError, DType, MoeConfig};
pub use device::{Cluster, Gpu};
pub use error::{Error, Result};
pub use layer::{GpuRouting, MoeLayer};
pub use weights::Weights;

/// The kernel crate's shared `#[repr(C)]` types.
pub use flashmoe_kernels::layout;
