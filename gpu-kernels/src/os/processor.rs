//! Processor blocks: wait (bounded) until the claimed queue slot is published, claim the next slot
//! (its atomic completes while this task runs), run the task.

use super::queue::Queue;
use crate::combine;
use crate::fault::{self, Deadline};
use crate::ffn;
use crate::gemm::element::{Element, Mma};
use crate::layout::{ErrorCode, FaultKind, MoeParams, NONE, Task, TaskKind, WaitKind, task_in_bounds, timeline};
use crate::ptx::{copy, sync, time};
use crate::smem::TASK;
use crate::util::thread_idx;

/// Thread 0's wait for the task in claimed `slot`; EXIT when the launch is aborting or the
/// task's kind is unknown.
#[inline(always)]
pub unsafe fn wait_task(p: &MoeParams, smem: u32, q: &Queue, dl: &Deadline, slot: u32) -> Task {
    let exit = Task { kind: TaskKind::Exit as u32, ..Task::default() };
    let ctl = fault::control(p);
    if slot >= q.capacity() {
        unsafe { fault::defer(smem, ErrorCode::Fault as u32, FaultKind::QueueFull as u32, NONE, slot as u64, q.capacity() as u64) };
        return exit;
    }
    loop {
        if let Some(t) = unsafe { q.poll(slot) } {
            // The kind and the row tile id (a GEMM0 task's counter index): the other fields of
            // a current task come from values its producer checked, and a merged tile's
            // segments and every meta word are checked where they are used. (Checking every
            // field here cost 2-3.5% per GEMM task in codegen alone: perf log v7.)
            if !task_in_bounds(p, &t) {
                let what = ((t.kind as u64) << 32) | t.info as u64;
                unsafe { fault::defer(smem, ErrorCode::Fault as u32, FaultKind::Task as u32, t.tile, what, slot as u64) };
                return exit;
            }
            return t;
        }
        if unsafe { fault::aborted(p, ctl) } {
            unsafe { fault::defer(smem, ErrorCode::PeerAborted as u32, 0, slot, 0, 0) };
            return exit;
        }
        if time::global_timer_ns() > dl.secondary {
            unsafe { fault::defer(smem, ErrorCode::Timeout as u32, WaitKind::TaskSlot as u32, slot, 0, 0) };
            return exit;
        }
        time::nanosleep(32);
    }
}

/// Thread 0's task fetching with the timeline counters: tasks, ns in tasks, ns waiting for a
/// published slot. In registers: kept in shared memory they cost 3% per GEMM task (measured,
/// v7 in the perf log).
pub struct TaskClock {
    pub tasks: u64,
    busy: u64,
    waited: u64,
    waited_start: u64,
    waited_end: u64,
    last: u64,
}

impl TaskClock {
    #[inline(always)]
    pub fn new() -> TaskClock {
        TaskClock { tasks: 0, busy: 0, waited: 0, waited_start: 0, waited_end: 0, last: time::global_timer_ns() }
    }

    /// The task in claimed `slot` (an exit task when `stop`; by index under the static decode
    /// plan when `STATIC`, which the warp-specialized engine never runs), counting the wait; claims the next
    /// slot into `slot` unless it is an exit, so the claim's latency (a contended atomic) hides
    /// behind the task.
    #[inline(always)]
    pub unsafe fn next<E: Element, const STATIC: bool>(
        &mut self,
        p: &MoeParams,
        smem: u32,
        q: &Queue,
        dl: &Deadline,
        slot: &mut u32,
        stop: bool,
    ) -> Task {
        let ready = time::global_timer_ns();
        let t = if stop {
            Task { kind: TaskKind::Exit as u32, ..Task::default() }
        } else if STATIC && p.static_plan() {
            unsafe { crate::decode::task::<E>(p, smem, dl, *slot) }
        } else {
            unsafe { wait_task(p, smem, q, dl, *slot) }
        };
        let now = time::global_timer_ns();
        if self.tasks > 0 {
            self.busy += ready - self.last;
        } else {
            fault::mark(p, timeline::FIRST_TASK, now);
        }
        self.waited += now - ready;
        if self.tasks < 2 {
            self.waited_start += now - ready;
        } else if t.kind == TaskKind::Combine as u32 || t.kind == TaskKind::Exit as u32 {
            self.waited_end += now - ready;
        }
        self.last = now;
        if t.kind != TaskKind::Exit as u32 {
            *slot = unsafe { q.claim() };
        }
        t
    }

    /// Records the counters in this block's timeline slots.
    #[inline(always)]
    pub fn report(&self, p: &MoeParams) {
        fault::mark(p, timeline::LAST_TASK, self.last);
        fault::mark(p, timeline::TASKS, self.tasks);
        fault::mark(p, timeline::BUSY_NS, self.busy);
        fault::mark(p, timeline::WAIT_NS, self.waited);
        fault::mark(p, timeline::WAIT_START_NS, self.waited_start);
        fault::mark(p, timeline::WAIT_END_NS, self.waited_end);
    }
}

/// A task's words at `at` in shared memory (a block's broadcast of thread 0's task, the
/// warp-specialized consumers' slots).
#[inline(always)]
pub unsafe fn store_task(at: u32, t: &Task) {
    unsafe {
        copy::st_shared_u32(at, t.kind);
        copy::st_shared_u32(at + 4, t.tile);
        copy::st_shared_u32(at + 8, t.n_tile);
        copy::st_shared_u32(at + 12, t.info);
        copy::st_shared_u32(at + 16, t.pair);
        copy::st_shared_u32(at + 20, t.slot);
    }
}

/// The task [`store_task`] left at `at`.
#[inline(always)]
pub unsafe fn load_task(at: u32) -> Task {
    let w = |i: u32| unsafe { copy::ld_shared_u32(at + 4 * i) };
    Task { kind: w(0), tile: w(1), n_tile: w(2), info: w(3), pair: w(4), slot: w(5), ..Task::default() }
}

/// Runs tasks until an exit task, an abort, or a failure (left in the block's mailbox for the
/// entry to raise: see `fault::defer`).
///
/// Inlined into the entry on the wgmma path: ptxas serializes every wgmma of a kernel whose
/// wgmma sits in a called function (C7510, "crossing function boundary"). The mma.sync path is
/// a separate function: inlined, its entry would spill.
///
/// # Safety
/// All threads of a processor block, after dispatch.
#[inline(always)]
pub unsafe fn run<E: Mma>(p: &MoeParams, smem: u32, dl: &Deadline) {
    if E::WGMMA { unsafe { tasks::<E>(p, smem, dl) } } else { unsafe { tasks_outlined::<E>(p, smem, dl) } }
}

#[inline(never)]
unsafe fn tasks_outlined<E: Mma>(p: &MoeParams, smem: u32, dl: &Deadline) {
    unsafe { tasks::<E>(p, smem, dl) }
}

#[inline(always)]
unsafe fn tasks<E: Mma>(p: &MoeParams, smem: u32, dl: &Deadline) {
    let q = &Queue::new(p);
    let at = smem + TASK;
    // Thread 0's claimed slot: claimed one task ahead (see `TaskClock::next`).
    let mut slot = if thread_idx() == 0 { unsafe { q.claim() } } else { 0 };
    let mut clock = TaskClock::new();
    loop {
        if thread_idx() == 0 {
            let t = unsafe { clock.next::<E, true>(p, smem, q, dl, &mut slot, false) };
            unsafe { store_task(at, &t) };
        }
        sync::sync_threads();
        let t = unsafe { load_task(at) };
        sync::sync_threads();
        // A failed task deferred its fault (the block agreed on it): the entry raises it.
        let ok = match TaskKind::from_u32(t.kind) {
            Some(TaskKind::Gemm0) => unsafe { ffn::gemm0::<E>(p, smem, q, &t) },
            Some(TaskKind::Gemm1) => unsafe { ffn::gemm1::<E>(p, smem, &t) },
            Some(TaskKind::Combine) => {
                unsafe { combine::run::<E>(p, t.tile) };
                true
            }
            _ => {
                clock.report(p);
                return;
            }
        };
        if !ok {
            return;
        }
        clock.tasks += 1;
    }
}
