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

// LLVM's intrinsics, not inline asm: they are convergent. As inline asm, LLVM copied the barrier
// into both sides of a `thread 0` branch, lane 0 and lanes 1..31 met at two copies of an
// `.aligned` cluster barrier, and every cluster hung at it (cluster_probe, perf log v19).
unsafe extern "unadjusted" {
    #[link_name = "llvm.nvvm.barrier.cluster.arrive"]
    fn barrier_cluster_arrive();
    #[link_name = "llvm.nvvm.barrier.cluster.wait"]
    fn barrier_cluster_wait();
}

/// `barrier.cluster.arrive` (release) + `barrier.cluster.wait` (acquire), not `.aligned`: every
/// thread of every block of the cluster meets; shared-memory writes before it are visible to
/// the whole cluster after it.
#[inline(always)]
pub fn sync() {
    unsafe {
        barrier_cluster_arrive();
        barrier_cluster_wait();
    }
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
