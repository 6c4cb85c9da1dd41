//! Everything the host and the kernels share, split at its seams: [`abi`] (the `#[repr(C)]`
//! structs and the constants that size them), [`protocol`] (kinds, packed words and their checks),
//! [`regions`] (where data lives in the heap and the workspace), [`static_plan`] (the decode task
//! plan's indices). Re-exported here, so both sides name them `layout::X`; neither side
//! re-declares them.

pub mod abi;
pub mod protocol;
pub mod regions;
pub mod static_plan;

pub use abi::*;
pub use protocol::*;
pub use regions::*;
pub use static_plan::*;
