//! Everything the host and the kernels share, split at its seams: [`abi`] (the `#[repr(C)]`
//! structs and the constants that size them), [`protocol`] (kinds, packed words and their checks),
//! [`regions`] (where data lives in the heap and the workspace). Re-exported here, so both sides
//! name them `layout::X`; neither side re-declares them.

pub mod abi;
pub mod protocol;
pub mod regions;

pub use abi::*;
pub use protocol::*;
pub use regions::*;
