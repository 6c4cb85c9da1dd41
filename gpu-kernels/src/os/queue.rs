//! The processor task queue: a GPU-resident array of [`Task`] slots, filled in order by producers
//! (subscribers: GEMM0 tasks; processors: GEMM1 tasks; the scheduler: combine and exit) and
//! claimed in order by processors. A slot is ready when its stamp equals the launch epoch, so the
//! array never needs clearing; only the two counters are reset at launch.

use crate::layout::{Control, MoeParams, Task};
use crate::ptx::sync;

pub struct Queue {
    slots: *mut Task,
    capacity: u32,
    tail: *mut u32,
    claim: *mut u32,
    epoch: u32,
}

impl Queue {
    #[inline(always)]
    pub fn new(p: &MoeParams, ctl: *mut Control) -> Self {
        Queue {
            slots: (p.workspace + p.ws.queue) as *mut Task,
            capacity: p.ws.queue_slots as u32,
            tail: unsafe { &raw mut (*ctl).queue_tail },
            claim: unsafe { &raw mut (*ctl).queue_claim },
            epoch: p.epoch,
        }
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Reserves `n` consecutive slots; returns the first (may exceed capacity: check).
    #[inline(always)]
    pub unsafe fn reserve(&self, n: u32) -> u32 {
        unsafe { sync::atom_add_relaxed_gpu_u32(self.tail, n) }
    }

    /// Fills slot `i` with `task` and publishes it (the stamp is written last, with release).
    #[inline(always)]
    pub unsafe fn publish(&self, i: u32, task: &Task) {
        if i >= self.capacity {
            return;
        }
        unsafe {
            let t = self.slots.add(i as usize);
            sync::st_relaxed_gpu_u32(&raw mut (*t).kind, task.kind);
            sync::st_relaxed_gpu_u32(&raw mut (*t).tile, task.tile);
            sync::st_relaxed_gpu_u32(&raw mut (*t).n_tile, task.n_tile);
            sync::st_relaxed_gpu_u32(&raw mut (*t).info, task.info);
            sync::st_relaxed_gpu_u32(&raw mut (*t).pair, task.pair);
            sync::st_relaxed_gpu_u32(&raw mut (*t).slot, task.slot);
            sync::st_release_gpu_u32(&raw mut (*t).stamp, self.epoch);
        }
    }

    /// Claims the next slot for this processor.
    #[inline(always)]
    pub unsafe fn claim(&self) -> u32 {
        unsafe { sync::atom_add_relaxed_gpu_u32(self.claim, 1) }
    }

    /// The task in slot `i`, once published.
    #[inline(always)]
    pub unsafe fn poll(&self, i: u32) -> Option<Task> {
        unsafe {
            let t = self.slots.add(i as usize);
            if sync::ld_acquire_gpu_u32(&raw const (*t).stamp) != self.epoch {
                return None;
            }
            Some(Task {
                stamp: self.epoch,
                kind: sync::ld_relaxed_gpu_u32(&raw const (*t).kind),
                tile: sync::ld_relaxed_gpu_u32(&raw const (*t).tile),
                n_tile: sync::ld_relaxed_gpu_u32(&raw const (*t).n_tile),
                info: sync::ld_relaxed_gpu_u32(&raw const (*t).info),
                pair: sync::ld_relaxed_gpu_u32(&raw const (*t).pair),
                slot: sync::ld_relaxed_gpu_u32(&raw const (*t).slot),
                _pad: 0,
            })
        }
    }
}
