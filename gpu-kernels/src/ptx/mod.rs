//! The only place with inline PTX: one file per instruction family, each wrapper
//! `#[inline(always)]` and documented with the instruction it emits.

#[cfg(target_feature = "sm_90a")]
pub mod cluster;
pub mod copy;
pub mod math;
#[cfg(target_feature = "sm_90a")]
pub mod mbarrier;
pub mod mma;
#[cfg(target_feature = "sm_90a")]
pub mod regs;
pub mod sync;
pub mod time;
#[cfg(target_feature = "sm_90a")]
pub mod tma;
pub mod warp;
#[cfg(target_feature = "sm_90a")]
pub mod wgmma;
