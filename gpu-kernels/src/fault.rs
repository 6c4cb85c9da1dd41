//! Bounded waits: deadlines from %globaltimer, the first-failure error record in host-mapped
//! memory, and the abort word every role polls (set here, and on every peer).

use core::mem::offset_of;

use crate::layout::{Control, ErrorRecord, MoeParams, error_code};
use crate::ptx::{sync, time};
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

/// Whether any role here or on a peer gave up.
#[inline(always)]
pub unsafe fn aborted(ctl: *mut Control) -> bool {
    unsafe { sync::ld_relaxed_sys_u32(&raw const (*ctl).abort) != 0 }
}

/// Records a timed-out wait (only the first failure of the launch is kept) and makes every role
/// on every GPU of the layer exit.
pub unsafe fn timeout(p: &MoeParams, wait: u32, peer: u32, expert: u32, tile: u32, observed: u64) {
    let ctl = control(p);
    unsafe {
        if sync::atom_cas_sys_u32(&raw mut (*ctl).error_claim, 0, 1) == 0 {
            let rec = p.error as *mut ErrorRecord;
            sync::st_volatile_u32(&raw mut (*rec).wait, wait);
            sync::st_volatile_u32(&raw mut (*rec).gpu, p.rank);
            sync::st_volatile_u32(&raw mut (*rec).peer, peer);
            sync::st_volatile_u32(&raw mut (*rec).expert, expert);
            sync::st_volatile_u32(&raw mut (*rec).tile, tile);
            sync::st_volatile_u32(&raw mut (*rec).epoch, p.epoch);
            sync::st_volatile_u32(&raw mut (*rec).block, block_idx());
            sync::st_volatile_u64(&raw mut (*rec).observed, observed);
            sync::fence_sc_sys();
            sync::st_volatile_u32(&raw mut (*rec).code, error_code::TIMEOUT);
        }
        for r in 0..p.world as usize {
            let abort = (p.heaps[r] + p.heap.control + offset_of!(Control, abort) as u64) as *mut u32;
            sync::st_relaxed_sys_u32(abort, 1);
        }
        sync::fence_sc_sys();
    }
}

/// Records `value` in this block's timeline slot `slot` (thread 0 only; no-op when not recording).
#[inline(always)]
pub fn mark(p: &MoeParams, slot: usize, value: u64) {
    if p.timeline != 0 && crate::util::thread_idx() == 0 {
        let at = (p.timeline as *mut u64).wrapping_add(block_idx() as usize * crate::layout::timeline::SLOTS + slot);
        unsafe { *at = value };
    }
}

/// Records the current time in timeline slot `slot`.
#[inline(always)]
pub fn mark_now(p: &MoeParams, slot: usize) {
    if p.timeline != 0 {
        mark(p, slot, time::global_timer_ns());
    }
}
