//! Register reallocation between warpgroups (sm_90a): `setmaxnreg`. ptxas honours it only in an
//! entry with `.maxntid` and `.minnctapersm` (injected by host/build.rs for warp-specialized
//! entries; tests/ptxas.rs fails on the C7508 info that says it was dropped).

// LLVM's intrinsics, not inline asm: they are convergent, so LLVM never duplicates them into
// both sides of a branch (it did with inline asm: thread 0 of a warp reached one copy of
// `setmaxnreg.dec.sync.aligned`, the other lanes another, and the block hung).
unsafe extern "unadjusted" {
    #[link_name = "llvm.nvvm.setmaxnreg.dec.sync.aligned.u32"]
    fn setmaxnreg_dec(n: i32);
    #[link_name = "llvm.nvvm.setmaxnreg.inc.sync.aligned.u32"]
    fn setmaxnreg_inc(n: i32);
}

/// `setmaxnreg.dec.sync.aligned.u32 N`: this warpgroup gives registers back to the block's pool.
/// Every thread of the warpgroup executes it, convergent. Nothing in a `FLASHMOE_SANITIZE=1`
/// build (host/build.rs).
#[inline(always)]
pub fn release<const N: u32>() {
    #[cfg(not(flashmoe_sanitize))]
    unsafe {
        setmaxnreg_dec(const { N as i32 })
    };
}

/// `setmaxnreg.inc.sync.aligned.u32 N`: this warpgroup takes registers from the pool (it waits
/// until other warpgroups released enough). Every thread of the warpgroup executes it. Nothing
/// in a `FLASHMOE_SANITIZE=1` build: compute-sanitizer's instrumented code needs more registers,
/// and the wait here then never ends (perf log v20).
#[inline(always)]
pub fn acquire<const N: u32>() {
    #[cfg(not(flashmoe_sanitize))]
    unsafe {
        setmaxnreg_inc(const { N as i32 })
    };
}
