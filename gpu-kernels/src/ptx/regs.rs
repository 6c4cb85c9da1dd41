//! Register reallocation between warpgroups (sm_90a): `setmaxnreg`. ptxas honours it only in an
//! entry with `.maxntid` and `.minnctapersm` (injected by host/build.rs for warp-specialized
//! entries; tests/ptxas.rs fails on the C7508 info that says it was dropped).

use core::arch::asm;

/// `setmaxnreg.dec.sync.aligned.u32 N`: this warpgroup gives registers back to the block's pool.
/// Every thread of the warpgroup executes it, convergent.
#[inline(always)]
pub fn release<const N: u32>() {
    unsafe { asm!("setmaxnreg.dec.sync.aligned.u32 {n};", n = const N) };
}

/// `setmaxnreg.inc.sync.aligned.u32 N`: this warpgroup takes registers from the pool (it waits
/// until other warpgroups released enough). Every thread of the warpgroup executes it.
#[inline(always)]
pub fn acquire<const N: u32>() {
    unsafe { asm!("setmaxnreg.inc.sync.aligned.u32 {n};", n = const N) };
}
