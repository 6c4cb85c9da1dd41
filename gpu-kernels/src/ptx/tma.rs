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

/// `cp.async.bulk.tensor.2d.global.shared::cta.tile.bulk_group`: shared memory at `src` (laid out
/// as [`load_2d`] would have filled it) to the box of the tensor map at (`x`, `y`), in this
/// thread's current bulk async-group ([`bulk_commit_group`]).
///
/// # Safety
/// `map` points to a valid tensor map in global memory; `src` (1024-byte aligned) holds the box
/// and was made visible to the async proxy (`fence.proxy.async.shared::cta`) after it was written.
#[inline(always)]
pub unsafe fn store_2d(map: u64, x: u32, y: u32, src: u32) {
    unsafe {
        asm!(
            "cp.async.bulk.tensor.2d.global.shared::cta.tile.bulk_group [{m}, {{{x}, {y}}}], [{s}];",
            m = in(reg64) map, x = in(reg32) x, y = in(reg32) y, s = in(reg32) src
        )
    };
}

/// `cp.async.bulk.commit_group`: closes this thread's bulk async-group of stores.
#[inline(always)]
pub fn bulk_commit_group() {
    unsafe { asm!("cp.async.bulk.commit_group;") };
}

/// `cp.async.bulk.wait_group.read N`: at most the N most recent bulk groups of this thread may
/// still be reading their shared memory sources (the rest may be overwritten).
#[inline(always)]
pub fn bulk_wait_group_read<const N: u32>() {
    unsafe { asm!("cp.async.bulk.wait_group.read {n};", n = const N) };
}

/// `cp.async.bulk.wait_group N`: at most the N most recent bulk groups of this thread may still
/// be in flight; the others' writes are complete and visible to this thread.
#[inline(always)]
pub fn bulk_wait_group<const N: u32>() {
    unsafe { asm!("cp.async.bulk.wait_group {n};", n = const N) };
}
