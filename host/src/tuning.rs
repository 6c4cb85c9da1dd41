//! Tuning: the choices that change speed, never results. A value passed to the layer's builder
//! (the library reads no environment variable); `None` fields take the defaults of
//! [`crate::heuristics`].
//!
//! ```
//! use flashmoe::{Mainloop, Tuning};
//! use flashmoe::Arch;
//!
//! // The Ampere build with mma.sync, e.g. to test what an A100 runs on a Hopper GPU.
//! let ampere = Tuning { arch: Some(Arch::Sm80), mainloop: Mainloop::MmaSync, ..Tuning::default() };
//! assert_eq!(ampere.dispatch_blocks, None); // heuristics decide
//! ```

use flashmoe_kernels::entries::Arch;

/// The tile GEMM's main loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mainloop {
    /// On sm_90a with 16-bit types: warp-specialized blocks for layers with many rows per
    /// expert ([`crate::heuristics::wide_tiles`]), else wgmma on 128-thread blocks; mma.sync on
    /// sm_80.
    #[default]
    Auto,
    /// Warp-specialized blocks: a producer warpgroup and two wgmma consumers (sm_90a).
    WarpSpecialized,
    /// wgmma on blocks of one warpgroup (sm_90a; the engine before the warp-specialized one).
    Wgmma,
    /// mma.sync m16n8k16 on every build (for A/B measurements on Hopper).
    MmaSync,
}

/// Speed choices of a layer (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tuning {
    /// The PTX build to run (default: the device's best; sm_80 runs on Hopper too).
    pub arch: Option<Arch>,
    pub mainloop: Mainloop,
    /// Copy rows routed to a GPU's own experts into its dispatch region, so that the
    /// warp-specialized GEMM0 reads them by TMA boxes instead of gathering them from the input
    /// ([`crate::heuristics::copy_local`] by default).
    pub copy_local: Option<bool>,
    /// Let GEMM0 copy them as it goes instead, on the warp-specialized engine: a row tile's first
    /// GEMM0 task gathers its rows and stores them into the dispatch region, the tile's other
    /// GEMM0 tasks read what is stored by TMA boxes ([`crate::heuristics::stream_rows`] by
    /// default; `copy_local: Some(true)` copies in the dispatch instead).
    pub stream_rows: Option<bool>,
    /// Queue a run of row tiles' GEMM1 tasks together once the run's GEMM0 tasks are done, on
    /// the warp-specialized engine ([`crate::heuristics::gemm1_runs`] by default; else each
    /// tile's as it finishes).
    pub gemm1_runs: Option<bool>,
    /// Blocks that dispatch rows ([`crate::heuristics::dispatch_blocks`] by default).
    pub dispatch_blocks: Option<u32>,
    /// K splits of the gate GEMM ([`crate::heuristics::gate_splits`] by default).
    pub gate_splits: Option<u32>,
    /// K splits of each GEMM1 task on the 128-thread engines ([`crate::heuristics::gemm1_splits`]
    /// by default; clamped to what the forward's partial slots hold).
    pub gemm1_splits: Option<u32>,
    /// K splits of each GEMM0 task on the 128-thread engines
    /// ([`crate::heuristics::gemm0_splits`] by default; a power of two, at most
    /// `layout::MAX_GEMM0_SPLITS`, held to the partial slots like GEMM1's).
    pub gemm0_splits: Option<u32>,
    /// The lean decode kernel for forwards of at most `layout::LEAN_MAX_TOKENS` tokens on one
    /// GPU (one plain launch, no grid barrier; [`crate::heuristics::lean`] by default, with
    /// `Mainloop::Auto`): `Some(false)` never takes it, `Some(true)` wherever it can run.
    pub lean: Option<bool>,
    /// The lean kernel's dense launch (`flags::LEAN_DENSE`: every expert's items run beside a
    /// routing block; [`crate::heuristics::lean_dense`] by default): `Some(false)` never,
    /// `Some(true)` wherever its grid and partials fit (else the routed launch).
    pub lean_dense: Option<bool>,
    /// The sweep (`moe_sweep_*`, `flags::LEAN_SWEEP`: the whole grid streams the chosen
    /// experts' weights for at most `layout::SWEEP_MAX_TOKENS` tokens): `Some(true)` wherever its
    /// buffers fit, `Some(false)` never, by default where [`crate::heuristics::lean_sweep`] takes
    /// the forward and the items do not ([`crate::heuristics::sweep_before_items`]). Off with the
    /// lean kernel (`lean: Some(false)`).
    pub lean_sweep: Option<bool>,
    /// The static decode plan ([`crate::heuristics::static_plan`]): `Some(false)` never takes
    /// it; by default (and with `Some(true)`) it runs wherever the forward allows it.
    pub static_plan: Option<bool>,
    /// At most this many persistent blocks per GPU (at least 2: the OS block and a processor;
    /// default: as many as are co-resident). Slower; for runs under compute-sanitizer, whose
    /// cost grows with every block that spins on a flag.
    pub max_blocks: Option<u32>,
}

/// Where the warp-specialized GEMM0 reads the rows routed to a GPU's own experts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OwnRows {
    /// Gathered row by row from the input by every GEMM0 task (cp.async).
    Gathered,
    /// Copied into row tiles by the dispatch, then read by TMA boxes ([`Tuning::copy_local`]; a
    /// router that scales inputs always copies).
    Copied,
    /// Copied by each row tile's first GEMM0 task as it gathers them; the tile's other tasks read
    /// them by TMA boxes once stored ([`Tuning::stream_rows`]).
    Streamed,
}
