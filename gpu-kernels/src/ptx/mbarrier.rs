//! Shared-memory mbarriers (sm_90): the producer/consumer handshakes of the warp-specialized
//! pipeline. A barrier is a 64-bit word at a 32-bit shared address; it completes a phase when
//! its expected arrivals (and transaction bytes) are in, and `try_wait.parity` tests whether
//! the phase of a given parity has completed. No labels in the asm: waits loop in Rust (so
//! they stay bounded by the caller's deadline and an inlined copy cannot duplicate a label).

use core::arch::asm;

/// `mbarrier.init.shared::cta.b64 [bar], count`.
///
/// # Safety
/// `bar` is an 8-byte-aligned shared address no thread uses as a barrier yet.
#[inline(always)]
pub unsafe fn init(bar: u32, count: u32) {
    unsafe { asm!("mbarrier.init.shared::cta.b64 [{b}], {c};", b = in(reg32) bar, c = in(reg32) count) };
}

/// `fence.mbarrier_init.release.cluster`: makes the initialised barriers visible before the
/// block barrier that publishes them.
#[inline(always)]
pub fn fence_init() {
    unsafe { asm!("fence.mbarrier_init.release.cluster;") };
}

/// `mbarrier.arrive.release.cta.shared::cta.b64`: one arrival; this thread's earlier writes are
/// visible to whoever observes the phase complete.
///
/// # Safety
/// `bar` is an initialised barrier.
#[inline(always)]
pub unsafe fn arrive(bar: u32) {
    unsafe { asm!("mbarrier.arrive.release.cta.shared::cta.b64 _, [{b}];", b = in(reg32) bar) };
}

/// `mbarrier.arrive.expect_tx.shared::cta.b64`: one arrival that also adds `bytes` to the
/// transactions the current phase waits for (a TMA copy's `complete_tx`).
///
/// # Safety
/// `bar` is an initialised barrier.
#[inline(always)]
pub unsafe fn arrive_expect_tx(bar: u32, bytes: u32) {
    unsafe { asm!("mbarrier.arrive.expect_tx.shared::cta.b64 _, [{b}], {n};", b = in(reg32) bar, n = in(reg32) bytes) };
}

/// `cp.async.mbarrier.arrive.noinc.shared::cta.b64`: one arrival on `bar` once every cp.async
/// this thread issued before it has landed (`.noinc`: the arrival counts against the barrier's
/// expected count, which therefore includes one per copying thread).
///
/// # Safety
/// `bar` is an initialised barrier.
#[inline(always)]
pub unsafe fn arrive_on_copies(bar: u32) {
    unsafe { asm!("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [{b}];", b = in(reg32) bar) };
}

/// `mbarrier.try_wait.parity.acquire.cta.shared::cta.b64`: whether the phase with parity `parity`
/// has completed (a fresh barrier is in phase 0, so parity 1 reads as complete). Returns after a
/// hardware-chosen time limit when not.
///
/// # Safety
/// `bar` is an initialised barrier.
#[inline(always)]
pub unsafe fn try_wait(bar: u32, parity: u32) -> bool {
    let done: u32;
    unsafe {
        asm!(
            "{{ .reg .pred p; mbarrier.try_wait.parity.acquire.cta.shared::cta.b64 p, [{b}], {ph}; selp.u32 {r}, 1, 0, p; }}",
            r = out(reg32) done, b = in(reg32) bar, ph = in(reg32) parity
        )
    };
    done != 0
}

/// [`try_wait`] with cluster-scope acquire: for phases completed by arrivals from other blocks
/// of the cluster (`cluster::arrive_remote`).
///
/// # Safety
/// `bar` is an initialised barrier.
#[inline(always)]
pub unsafe fn try_wait_cluster(bar: u32, parity: u32) -> bool {
    let done: u32;
    unsafe {
        asm!(
            "{{ .reg .pred p; mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 p, [{b}], {ph}; selp.u32 {r}, 1, 0, p; }}",
            r = out(reg32) done, b = in(reg32) bar, ph = in(reg32) parity
        )
    };
    done != 0
}
