//! Tile GEMM on tensor cores: element types, the cp.async/ldmatrix/mma.sync mainloop (sm_80 and
//! later), epilogues, activations.

pub mod activation;
pub mod element;
pub mod epilogue;
pub mod mainloop;
