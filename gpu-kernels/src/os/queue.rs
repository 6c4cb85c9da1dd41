//! The processor task queue: a GPU-resident array of [`Task`] slots, filled in order by producers
//! (subscribers: GEMM0 tasks; processors: GEMM1 tasks; the scheduler: combine and exit) and
//! claimed in order by processors. A slot is ready when its stamp equals the launch epoch, so the
//! array never needs clearing; only the two counters are reset at launch.

use crate::fault;
use crate::layout::{Control, FaultKind, MoeParams, Task, publish_run_end};
use crate::ptx::sync;

/// A view of the queue through the launch parameters (in shared memory): every address is
/// derived where it is used, so a processor keeps no queue state in registers across its GEMMs.
#[derive(Clone, Copy)]
pub struct Queue<'p> {
    p: &'p MoeParams,
}

impl<'p> Queue<'p> {
    #[inline(always)]
    pub fn new(p: &'p MoeParams) -> Self {
        Queue { p }
    }

    #[inline(always)]
    fn slots(&self) -> *mut Task {
        (self.p.workspace + self.p.ws.queue) as *mut Task
    }

    #[inline(always)]
    fn control(&self) -> *mut Control {
        fault::control(self.p)
    }

    #[inline(always)]
    pub fn capacity(&self) -> u32 {
        self.p.ws.queue_slots as u32
    }

    /// Reserves `n` consecutive slots; returns the first (may exceed capacity: check).
    #[inline(always)]
    pub unsafe fn reserve(&self, n: u32) -> u32 {
        unsafe { sync::atom_add_relaxed_gpu_u32(&raw mut (*self.control()).queue_tail, n) }
    }

    /// Fills slot `i` with `task` and publishes it (the stamp is written last, with release).
    /// False for a slot past the end, which the caller must report (the plan sizes the queue for
    /// every task a launch can make, so that is a fault).
    #[inline(always)]
    #[must_use]
    pub unsafe fn publish(&self, i: u32, task: &Task) -> bool {
        let s = self.view();
        if i >= s.cap {
            return false;
        }
        unsafe {
            s.write(i, task);
            sync::st_release_gpu_u32(&raw mut (*s.base.add(i as usize)).stamp, s.epoch);
        }
        true
    }

    /// The queue's words a publishing loop needs, read once (see [`Slots`]).
    #[inline(always)]
    fn view(&self) -> Slots {
        Slots { base: self.slots(), cap: self.capacity(), epoch: self.p.epoch }
    }

    /// Publishes `next()`'s tasks (called n times, in order) into slots `first..first + n`, in
    /// runs ([`publish_run_end`]): the run's words, one release fence, then its stamps (relaxed:
    /// after the fence each is a release). A release store per task is a fence per task: one
    /// thread publishing the 224 GEMM0 tasks of a Mixtral-size expert that way took ~110 us (perf
    /// log v13). A short first run keeps the first tasks early, doubling runs keep the fences
    /// few. A slot past the end is a fault (for the OS block's warps).
    #[inline(always)]
    pub unsafe fn publish_runs(&self, p: &MoeParams, first: u32, n: u32, mut next: impl FnMut() -> Task) {
        let s = self.view();
        let mut j0 = 0;
        while j0 < n {
            let end = publish_run_end(j0, n);
            for j in j0..end {
                let task = next();
                if first + j < s.cap {
                    unsafe { s.write(first + j, &task) };
                } else {
                    unsafe { fault::fault(p, FaultKind::QueueFull as u32, (first + j) as u64, s.cap as u64) };
                }
            }
            sync::fence_acq_rel_gpu();
            for j in j0..end {
                if first + j < s.cap {
                    unsafe { s.stamp(first + j) };
                }
            }
            j0 = end;
        }
    }

    /// [`Self::publish`], reporting a slot past the end at once (for the OS block's warps).
    #[inline(always)]
    pub unsafe fn publish_or_fail(&self, p: &MoeParams, i: u32, task: &Task) {
        if !unsafe { self.publish(i, task) } {
            unsafe { fault::fault(p, FaultKind::QueueFull as u32, i as u64, self.capacity() as u64) };
        }
    }

    /// Claims the next slot for this processor.
    #[inline(always)]
    pub unsafe fn claim(&self) -> u32 {
        unsafe { sync::atom_add_relaxed_gpu_u32(&raw mut (*self.control()).queue_claim, 1) }
    }

    /// The task in slot `i`, once published.
    #[inline(always)]
    pub unsafe fn poll(&self, i: u32) -> Option<Task> {
        unsafe {
            let t = self.slots().add(i as usize);
            if sync::ld_acquire_gpu_u32(&raw const (*t).stamp) != self.p.epoch {
                return None;
            }
            Some(Task {
                stamp: self.p.epoch,
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

/// The queue's base, capacity and launch epoch in registers. The parameters live in shared
/// memory and inline asm may touch any memory, so a loop that read them per task reloaded them
/// after every store: one subscriber thread publishing a Mixtral-size expert's 224 tasks at
/// decode took ~0.23 us per task (the median processor's first task at 46 us; perf log v14).
#[derive(Clone, Copy)]
struct Slots {
    base: *mut Task,
    cap: u32,
    epoch: u32,
}

impl Slots {
    /// The task's words of slot `i` (< capacity), without its stamp: two vector stores (Task is
    /// 16-byte aligned: kind..info at 0, pair and slot at 16).
    #[inline(always)]
    unsafe fn write(self, i: u32, task: &Task) {
        unsafe {
            let t = self.base.add(i as usize);
            sync::st_relaxed_gpu_v4_u32(&raw mut (*t).kind, [task.kind, task.tile, task.n_tile, task.info]);
            sync::st_relaxed_gpu_v2_u32(&raw mut (*t).pair, [task.pair, task.slot]);
        }
    }

    /// Slot `i`'s stamp, relaxed (after a release fence that orders the words before it).
    #[inline(always)]
    unsafe fn stamp(self, i: u32) {
        unsafe { sync::st_relaxed_gpu_u32(&raw mut (*self.base.add(i as usize)).stamp, self.epoch) };
    }
}
