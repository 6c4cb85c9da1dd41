//! Data movement: `cp.async` global->shared pipelines, 16-byte global loads/stores, shared-memory
//! accesses by 32-bit shared address.

use core::arch::asm;

/// `cvta.to.shared.u64`, truncated: the 32-bit `.shared` address of a generic pointer into shared
/// memory (what ldmatrix, cp.async and ld/st.shared take).
#[inline(always)]
pub fn smem_addr<T>(p: *const T) -> u32 {
    let a: u64;
    unsafe { asm!("cvta.to.shared.u64 {a}, {p};", a = out(reg64) a, p = in(reg64) p) };
    a as u32
}

/// `cp.async.cg.shared.global [dst], [src], 16;`: an asynchronous 16-byte copy that bypasses L1
/// (data written earlier in this kernel by other blocks is read coherently from L2).
#[inline(always)]
pub unsafe fn cp_async_16(dst: u32, src: *const u8) {
    unsafe { asm!("cp.async.cg.shared.global [{d}], [{s}], 16;", d = in(reg32) dst, s = in(reg64) src) };
}

/// [`cp_async_16`] with an L2 cache policy (`.L2::cache_hint`, from [`evict_first_policy`]).
#[inline(always)]
pub unsafe fn cp_async_16_hinted(dst: u32, src: *const u8, policy: u64) {
    unsafe {
        asm!("cp.async.cg.shared.global.L2::cache_hint [{d}], [{s}], 16, {p};", d = in(reg32) dst, s = in(reg64) src, p = in(reg64) policy)
    };
}

/// `createpolicy.fractional.L2::evict_first.b64`: an L2 policy for data read once (decode's
/// expert weights), so it leaves first and what every forward reuses (the kernel's code, flags,
/// routing tables) stays in L2.
#[inline(always)]
pub fn evict_first_policy() -> u64 {
    let p: u64;
    unsafe { asm!("createpolicy.fractional.L2::evict_first.b64 {p}, 1.0;", p = out(reg64) p, options(pure, nomem, nostack)) };
    p
}

/// `cp.async.commit_group`.
#[inline(always)]
pub fn cp_async_commit() {
    unsafe { asm!("cp.async.commit_group;") };
}

/// `cp.async.wait_group N`: at most N most recent groups may still be in flight.
#[inline(always)]
pub fn cp_async_wait<const N: u32>() {
    unsafe { asm!("cp.async.wait_group {n};", n = const N) };
}

/// `ld.global.nc.v4.u32`: 16 bytes of read-only input (never data this kernel writes).
#[inline(always)]
pub unsafe fn ld_nc_v4(p: *const u8) -> [u32; 4] {
    let (a, b, c, d): (u32, u32, u32, u32);
    unsafe {
        asm!("ld.global.nc.v4.u32 {{{a}, {b}, {c}, {d}}}, [{p}];",
            a = out(reg32) a, b = out(reg32) b, c = out(reg32) c, d = out(reg32) d, p = in(reg64) p)
    };
    [a, b, c, d]
}

/// `ld.global.nc.L2::256B.v4.u32`: as [`ld_nc_v4`], and a miss brings the 256 bytes around the
/// vector into L2. For warps whose loads cover only 64 bytes of a row each (the sweep's
/// tensor-core tiles): DRAM serves such requests well below its rate (perf log v40).
#[inline(always)]
pub unsafe fn ld_nc_v4_l2_256(p: *const u8) -> [u32; 4] {
    let (a, b, c, d): (u32, u32, u32, u32);
    unsafe {
        asm!("ld.global.nc.L2::256B.v4.u32 {{{a}, {b}, {c}, {d}}}, [{p}];",
            a = out(reg32) a, b = out(reg32) b, c = out(reg32) c, d = out(reg32) d, p = in(reg64) p)
    };
    [a, b, c, d]
}

/// `ld.global.cg.v4.u32`: 16 bytes read at L2 (data other blocks or peers wrote in this kernel).
#[inline(always)]
pub unsafe fn ld_cg_v4(p: *const u8) -> [u32; 4] {
    let (a, b, c, d): (u32, u32, u32, u32);
    unsafe {
        asm!("ld.global.cg.v4.u32 {{{a}, {b}, {c}, {d}}}, [{p}];",
            a = out(reg32) a, b = out(reg32) b, c = out(reg32) c, d = out(reg32) d, p = in(reg64) p)
    };
    [a, b, c, d]
}

/// `prefetch.global.L1 [p]`: brings the line holding `p` into this SM's L1 without waiting for it.
#[cfg(feature = "nvshmem")]
#[inline(always)]
pub unsafe fn prefetch_l1(p: *const u8) {
    unsafe { asm!("prefetch.global.L1 [{p}];", p = in(reg64) p) };
}

/// `st.global.v4.u32`: 16 bytes; also the store used into a peer's heap (a UVA address).
#[inline(always)]
pub unsafe fn st_v4(p: *mut u8, v: [u32; 4]) {
    unsafe {
        asm!("st.global.v4.u32 [{p}], {{{a}, {b}, {c}, {d}}};",
            p = in(reg64) p, a = in(reg32) v[0], b = in(reg32) v[1], c = in(reg32) v[2], d = in(reg32) v[3])
    };
}

/// `ld.global.cg.f32` without side effects: loads the compiler may batch (data other blocks
/// wrote before a grid barrier, read at L2).
#[inline(always)]
pub unsafe fn ld_cg_f32(p: *const f32) -> f32 {
    let v: f32;
    unsafe { asm!("ld.global.cg.f32 {v}, [{p}];", v = out(reg32) v, p = in(reg64) p, options(pure, readonly, nostack)) };
    v
}

/// `st.shared.v2.u32`.
#[inline(always)]
pub unsafe fn st_shared_v2(addr: u32, a: u32, b: u32) {
    unsafe { asm!("st.shared.v2.u32 [{s}], {{{a}, {b}}};", s = in(reg32) addr, a = in(reg32) a, b = in(reg32) b) };
}

/// `ld.shared.u32`.
#[inline(always)]
pub unsafe fn ld_shared_u32(addr: u32) -> u32 {
    let v: u32;
    unsafe { asm!("ld.shared.u32 {v}, [{s}];", v = out(reg32) v, s = in(reg32) addr) };
    v
}

/// `ld.shared.v4.u32` (16-byte aligned), read-only to the compiler: values loaded before a
/// barrier are not assumed to survive it, but nothing else forces a reload.
#[inline(always)]
pub unsafe fn ld_shared_v4(addr: u32) -> [u32; 4] {
    let (a, b, c, d): (u32, u32, u32, u32);
    unsafe {
        asm!("ld.shared.v4.u32 {{{a}, {b}, {c}, {d}}}, [{s}];",
            a = out(reg32) a, b = out(reg32) b, c = out(reg32) c, d = out(reg32) d, s = in(reg32) addr,
            options(readonly, nostack, preserves_flags))
    };
    [a, b, c, d]
}

/// `st.shared.u32`.
#[inline(always)]
pub unsafe fn st_shared_u32(addr: u32, v: u32) {
    unsafe { asm!("st.shared.u32 [{s}], {v};", s = in(reg32) addr, v = in(reg32) v) };
}

/// `st.shared.v4.u32` (16-byte aligned).
#[inline(always)]
pub unsafe fn st_shared_v4(addr: u32, v: [u32; 4]) {
    unsafe {
        asm!("st.shared.v4.u32 [{s}], {{{a}, {b}, {c}, {d}}};",
            s = in(reg32) addr, a = in(reg32) v[0], b = in(reg32) v[1], c = in(reg32) v[2], d = in(reg32) v[3])
    };
}
