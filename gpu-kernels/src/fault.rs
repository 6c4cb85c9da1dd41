//! Bounded waits and checked values: deadlines from %globaltimer, the first-failure error record
//! in host-mapped memory, and the abort word every role polls (set here, on every peer, or by the
//! host). Both words hold the epoch of the launch that set them, so they never need clearing and a
//! word an earlier launch left behind never reads as set.

use core::mem::offset_of;

use crate::layout::{Control, ErrorCode, ErrorRecord, MoeParams, NONE};
use crate::ptx::{copy, sync, time};
use crate::util::block_idx;

/// Deadlines of one launch. Waits on other GPUs' or other roles' progress (flags) use `root`;
/// waits that only follow from those (queue slots, barrier, termination) use the later
/// `secondary`, so the error names the wait that actually broke.
#[derive(Clone, Copy)]
pub struct Deadline {
    pub root: u64,
    pub secondary: u64,
}

impl Deadline {
    #[inline(always)]
    pub fn new(timeout_ns: u64) -> Self {
        let now = time::global_timer_ns();
        Deadline { root: now + timeout_ns, secondary: now + timeout_ns + timeout_ns / 2 }
    }
}

/// Address of this GPU's control block.
#[inline(always)]
pub fn control(p: &MoeParams) -> *mut Control {
    (p.heaps[p.rank as usize] + p.heap.control) as *mut Control
}

/// Whether any role here or on a peer gave up on this launch.
#[inline(always)]
pub unsafe fn aborted(p: &MoeParams, ctl: *mut Control) -> bool {
    unsafe { sync::ld_relaxed_sys_u32(&raw const (*ctl).abort) == p.epoch }
}

/// Records a failure (only the first of the launch is kept: the claim word moves to this epoch
/// once) and makes every role on every GPU of the layer exit: every peer's `abort_by` names this
/// GPU before its abort word is set. A [`ErrorCode::PeerAborted`] record (a role that saw the
/// abort) names the GPU from `abort_by` and sets nothing. Not inlined (it is cold); the
/// processors, whose GEMM loops leave no registers to save around a call, [`defer`] instead.
///
/// One copy for the persistent engines' launches and one for the lean layout's (`LEAN`): every
/// caller of a copy passes the same shared-memory copy of the parameters, so LLVM folds `p` into
/// it. A copy shared by both layouts takes `p` as an argument at every call, which cost the
/// warp-specialized entries 192 bytes of spills at their 168 registers (perf log v37).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
unsafe fn fail<const LEAN: bool>(p: &MoeParams, code: u32, what: u32, peer: u32, expert: u32, tile: u32, observed: u64, bound: u64) {
    let ctl = control(p);
    let stopped = code == ErrorCode::PeerAborted as u32;
    let word = |r: usize, field: usize| (p.heaps[r] + p.heap.control + field as u64) as *mut u32;
    unsafe {
        let claim = &raw mut (*ctl).error_claim;
        let mut seen = sync::ld_relaxed_sys_u32(claim);
        let won = loop {
            if seen == p.epoch {
                break false;
            }
            let old = sync::atom_cas_sys_u32(claim, seen, p.epoch);
            if old == seen {
                break true;
            }
            seen = old;
        };
        if won {
            let peer = if stopped {
                // Written before the abort word this role saw.
                sync::fence_acq_rel_sys();
                sync::ld_relaxed_sys_u32(&raw const (*ctl).abort_by)
            } else {
                peer
            };
            let rec = p.error as *mut ErrorRecord;
            sync::st_volatile_u32(&raw mut (*rec).what, what);
            sync::st_volatile_u32(&raw mut (*rec).gpu, p.rank);
            sync::st_volatile_u32(&raw mut (*rec).peer, peer);
            sync::st_volatile_u32(&raw mut (*rec).expert, expert);
            sync::st_volatile_u32(&raw mut (*rec).tile, tile);
            sync::st_volatile_u32(&raw mut (*rec).epoch, p.epoch);
            sync::st_volatile_u32(&raw mut (*rec).block, block_idx());
            sync::st_volatile_u64(&raw mut (*rec).observed, observed);
            sync::st_volatile_u64(&raw mut (*rec).bound, bound);
            sync::fence_sc_sys();
            sync::st_volatile_u32(&raw mut (*rec).code, code);
        }
        if stopped {
            return;
        }
        // A peer reached by puts gets both words as completed NVSHMEM stores.
        let store = |r: usize, field: usize, value: u32| {
            #[cfg(feature = "nvshmem")]
            if p.puts_to(r as u32) {
                crate::nvshmem::store_u32(p, r as u32, word(r, field), value);
                return;
            }
            sync::st_relaxed_sys_u32(word(r, field), value);
        };
        for r in 0..p.world as usize {
            store(r, offset_of!(Control, abort_by), p.rank);
        }
        sync::fence_sc_sys();
        for r in 0..p.world as usize {
            store(r, offset_of!(Control, abort), p.epoch);
        }
        sync::fence_sc_sys();
    }
}

/// Records that this GPU stops because another GPU (or the host) aborted the launch ([`fail`]),
/// so the forward never reads as a success; a failure of this GPU's own, recorded first, wins.
pub unsafe fn stopped(p: &MoeParams) {
    unsafe { stopped_in::<false>(p) };
}

/// [`stopped`] from code the lean layout's launches run too (`LEAN`: theirs, see [`fail`]).
pub unsafe fn stopped_in<const LEAN: bool>(p: &MoeParams) {
    unsafe { fail::<LEAN>(p, ErrorCode::PeerAborted as u32, 0, NONE, NONE, NONE, 0, 0) };
}

/// Records a timed-out wait ([`fail`]).
pub unsafe fn timeout(p: &MoeParams, wait: u32, peer: u32, expert: u32, tile: u32, observed: u64) {
    unsafe { timeout_in::<false>(p, wait, peer, expert, tile, observed) };
}

/// [`timeout`] from code the lean layout's launches run too (`LEAN`: theirs, see [`fail`]).
pub unsafe fn timeout_in<const LEAN: bool>(p: &MoeParams, wait: u32, peer: u32, expert: u32, tile: u32, observed: u64) {
    unsafe { fail::<LEAN>(p, ErrorCode::Timeout as u32, wait, peer, expert, tile, observed, 0) };
}

/// Records a value that broke its bound ([`fail`]); the caller must not use the value.
pub unsafe fn fault(p: &MoeParams, kind: u32, observed: u64, bound: u64) {
    unsafe { fail::<false>(p, ErrorCode::Fault as u32, kind, NONE, NONE, NONE, observed, bound) };
}

/// [`fault`] naming the peer, expert and tile involved.
pub unsafe fn fault_at(p: &MoeParams, kind: u32, at: (u32, u32, u32), observed: u64, bound: u64) {
    unsafe { fault_at_in::<false>(p, kind, at, observed, bound) };
}

/// [`fault_at`] from code the lean layout's launches run too (`LEAN`: theirs, see [`fail`]).
pub unsafe fn fault_at_in<const LEAN: bool>(p: &MoeParams, kind: u32, (peer, expert, tile): (u32, u32, u32), observed: u64, bound: u64) {
    unsafe { fail::<LEAN>(p, ErrorCode::Fault as u32, kind, peer, expert, tile, observed, bound) };
}

/// A processor's failure, kept in its block's shared memory (the first of the block wins) and
/// raised by [`raise_deferred`] once the processor role has returned, outside its loops.
#[inline(always)]
pub unsafe fn defer(smem: u32, code: u32, what: u32, tile: u32, observed: u64, bound: u64) {
    let at = smem + crate::smem::FAULT;
    unsafe {
        if sync::atom_cas_cta_shared_u32(at, 0, code) == 0 {
            copy::st_shared_u32(at + 4, what);
            copy::st_shared_u32(at + 8, tile);
            copy::st_shared_v2(at + 16, observed as u32, (observed >> 32) as u32);
            copy::st_shared_v2(at + 24, bound as u32, (bound >> 32) as u32);
        }
    }
}

/// Empties the block's failure mailbox (thread 0, before the block's first barrier).
#[inline(always)]
pub unsafe fn clear_deferred(smem: u32) {
    unsafe { copy::st_shared_u32(smem + crate::smem::FAULT, 0) };
}

/// Raises the block's deferred failure, if any ([`fail`]). All threads, after a block barrier.
#[inline(always)]
pub unsafe fn raise_deferred(p: &MoeParams, smem: u32) {
    let at = smem + crate::smem::FAULT;
    let code = unsafe { copy::ld_shared_u32(at) };
    if crate::util::thread_idx() == 0 && code != 0 {
        let word = |o: u32| unsafe { copy::ld_shared_u32(at + o) as u64 | ((copy::ld_shared_u32(at + o + 4) as u64) << 32) };
        unsafe { fail::<false>(p, code, copy::ld_shared_u32(at + 4), NONE, NONE, copy::ld_shared_u32(at + 8), word(16), word(24)) };
    }
}

/// This block's timeline slot `slot` (meaningful only while `p.timeline` is recorded).
#[inline(always)]
fn timeline_slot(p: &MoeParams, slot: usize) -> *mut u64 {
    (p.timeline as *mut u64).wrapping_add(block_idx() as usize * crate::layout::timeline::SLOTS + slot)
}

/// Records `value` in this block's timeline slot `slot` (thread 0 only; no-op when not recording).
#[inline(always)]
pub fn mark(p: &MoeParams, slot: usize, value: u64) {
    if p.timeline != 0 && crate::util::thread_idx() == 0 {
        unsafe { *timeline_slot(p, slot) = value };
    }
}

/// [`mark`] from whichever thread calls it (a slot one warpgroup owns: the ws consumers').
#[inline(always)]
#[cfg(target_feature = "sm_90a")]
pub fn mark_by_caller(p: &MoeParams, slot: usize, value: u64) {
    if p.timeline != 0 {
        unsafe { *timeline_slot(p, slot) = value };
    }
}

/// Records `step` in the timeline slot of this thread's warpgroup (its first thread; no-op when
/// not recording): where each warpgroup of a hung block stopped.
#[inline(always)]
#[cfg(target_feature = "sm_90a")]
pub fn mark_warpgroup(p: &MoeParams, step: u64) {
    let tid = crate::util::thread_idx();
    if p.timeline != 0 && tid % 128 == 0 {
        unsafe { sync::st_volatile_u64(timeline_slot(p, crate::layout::timeline::WG_STEP + (tid / 128) as usize), step) };
    }
}

/// Records the current time in timeline slot `slot` from any thread of the block, once per
/// launch: the first caller claims the shared word `claim` (zeroed by the block beforehand).
///
/// # Safety
/// `claim` is a shared-memory word of this block.
#[inline(always)]
pub unsafe fn mark_first(p: &MoeParams, slot: usize, claim: u32) {
    if p.timeline != 0 && unsafe { sync::atom_cas_cta_shared_u32(claim, 0, 1) } == 0 {
        unsafe { sync::st_volatile_u64(timeline_slot(p, slot), time::global_timer_ns()) };
    }
}

/// Records the current time in timeline slot `slot`.
#[inline(always)]
pub fn mark_now(p: &MoeParams, slot: usize) {
    if p.timeline != 0 {
        mark(p, slot, time::global_timer_ns());
    }
}
