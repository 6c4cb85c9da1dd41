//! Tuning: the choices that change speed, never results. A value passed to the layer's builder;
//! the library reads no environment variable. `None` fields take the heuristics' defaults.

/// The tile GEMM's main loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mainloop {
    /// The fastest the GPU has: wgmma on Hopper (sm_90a), mma.sync elsewhere.
    #[default]
    Auto,
    /// mma.sync m16n8k16 on every GPU (for A/B measurements on Hopper).
    MmaSync,
}

/// Speed choices of a layer (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tuning {
    pub mainloop: Mainloop,
    /// Also copy rows routed to a GPU's own experts into its dispatch region (by default GEMM0
    /// reads them in place from the input).
    pub copy_local: bool,
    /// Blocks that dispatch rows (default: every processor on one GPU, at most 128 across GPUs).
    pub dispatch_blocks: Option<u32>,
    /// K splits of the gate GEMM (default: enough (chunk, split) units to fill the grid).
    pub gate_splits: Option<u32>,
}
