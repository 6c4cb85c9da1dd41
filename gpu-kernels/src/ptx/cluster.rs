//! Thread block clusters (sm_90): a block's rank in its cluster, the cluster-wide barrier, and
//! the shared memory and mbarriers of the other blocks of the cluster (distributed shared
//! memory). For weight stages multicast to two blocks (shared/docs/tile-engine.md).

use core::arch::asm;

/// `%cluster_ctarank`: this block's rank in its cluster.
#[inline(always)]
pub fn rank() -> u32 {
    let r: u32;
    unsafe { asm!("mov.u32 {r}, %cluster_ctarank;", r = out(reg32) r, options(pure, nomem, nostack)) };
    r
}

/// `barrier.cluster.arrive.release` + `barrier.cluster.wait.acquire` (both `.aligned`): every
/// thread of every block of the cluster meets; shared-memory writes before it are visible to
/// the whole cluster after it.
#[inline(always)]
pub fn sync() {
    unsafe { asm!("barrier.cluster.arrive.release.aligned;", "barrier.cluster.wait.acquire.aligned;") };
}

/// `mapa.shared::cluster.u32`: the address of this block's shared location `addr` in the block
/// of cluster rank `rank`, as a `shared::cluster` address.
#[inline(always)]
pub fn map_shared(addr: u32, rank: u32) -> u32 {
    let a: u32;
    unsafe {
        asm!("mapa.shared::cluster.u32 {a}, {s}, {r};", a = out(reg32) a, s = in(reg32) addr, r = in(reg32) rank, options(pure, nomem, nostack))
    };
    a
}

/// `mbarrier.arrive.release.cluster.shared::cluster.b64`: one arrival on the barrier at
/// `shared::cluster` address `bar` (another block's, from [`map_shared`]).
///
/// # Safety
/// `bar` is an initialised barrier of a block of this cluster that is still running.
#[inline(always)]
pub unsafe fn arrive_remote(bar: u32) {
    unsafe { asm!("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [{b}];", b = in(reg32) bar) };
}
