//! The tensor memory accelerator (sm_90): 2D tile copies from global to shared memory described
//! by a tensor map (`cuTensorMapEncodeTiled`, 128-byte swizzle) that lives in global memory, each
//! completing on an mbarrier's transaction count (shared/docs/hopper-recipes.md, section 2).

use core::arch::asm;

/// `prefetch.tensormap [map]`: brings the tensor map into the cache before its first use.
#[inline(always)]
pub fn prefetch_tensormap(map: u64) {
    unsafe { asm!("prefetch.tensormap [{m}];", m = in(reg64) map) };
}

/// `fence.proxy.async.global`: orders this thread's generic-proxy global accesses before and
/// after it with the async proxy's (TMA's): a row written by st.global and later read by a TMA
/// box needs it on the writer's side after the stores, and on the reader's before the copy.
#[inline(always)]
pub fn fence_proxy_async_global() {
    unsafe { asm!("fence.proxy.async.global;") };
}

/// `cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes`: the box of
/// the tensor map at element coordinates (`x` innermost, `y` rows) into shared memory at `dst`
/// (1024-byte aligned for the 128-byte swizzle); its bytes count against `bar`'s transactions.
///
/// # Safety
/// `map` points to a valid tensor map in global memory; `bar` is an initialised barrier that
/// expects these bytes (`mbarrier::arrive_expect_tx`); `dst` holds the box.
#[inline(always)]
pub unsafe fn load_2d(dst: u32, map: u64, x: u32, y: u32, bar: u32) {
    unsafe {
        asm!(
            "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [{d}], [{m}, {{{x}, {y}}}], [{b}];",
            d = in(reg32) dst, m = in(reg64) map, x = in(reg32) x, y = in(reg32) y, b = in(reg32) bar
        )
    };
}

/// `cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes`: `bytes` (a multiple of
/// 16) from global `src` to shared `dst` (both 16-byte aligned), no tensor map; the bytes count
/// against `bar`'s transactions.
///
/// # Safety
/// `src` and `dst` hold `bytes`; `bar` is an initialised barrier that expects them.
#[inline(always)]
pub unsafe fn load_1d(dst: u32, src: *const u8, bytes: u32, bar: u32) {
    unsafe {
        asm!(
            "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [{d}], [{s}], {n}, [{b}];",
            d = in(reg32) dst, s = in(reg64) src, n = in(reg32) bytes, b = in(reg32) bar
        )
    };
}

/// [`load_2d`] into the same shared offset `dst` of every block of the cluster in `mask` (bit r:
/// cluster rank r), `.multicast::cluster`: each receiving block's barrier at `bar`'s offset
/// counts the box's bytes.
///
/// # Safety
/// As [`load_2d`], in every block of `mask`, whose barriers expect these bytes.
#[inline(always)]
pub unsafe fn load_2d_multicast(dst: u32, map: u64, x: u32, y: u32, bar: u32, mask: u16) {
    unsafe {
        asm!(
            "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster [{d}], [{m}, {{{x}, {y}}}], [{b}], {k};",
            d = in(reg32) dst, m = in(reg64) map, x = in(reg32) x, y = in(reg32) y, b = in(reg32) bar, k = in(reg16) mask
        )
    };
}
