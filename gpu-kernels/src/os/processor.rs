//! Processor blocks: wait (bounded) until the claimed queue slot is published, claim the next slot
//! (its atomic completes while this task runs), run the task.

use super::queue::Queue;
use crate::combine;
use crate::fault::{self, Deadline};
use crate::ffn;
use crate::gemm::element::Element;
use crate::layout::{MoeParams, NONE, Task, task_kind, timeline, wait_kind};
use crate::ptx::{copy, sync, time};
use crate::smem::TASK;
use crate::util::thread_idx;

/// Thread 0's wait for the task in claimed `slot`; EXIT when the launch is aborting.
#[inline(always)]
unsafe fn wait_task(p: &MoeParams, q: &Queue, dl: &Deadline, slot: u32) -> Task {
    let exit = Task { kind: task_kind::EXIT, ..Task::default() };
    let ctl = fault::control(p);
    if slot >= q.capacity() {
        unsafe { fault::timeout(p, wait_kind::TASK_SLOT, NONE, NONE, slot, q.capacity() as u64) };
        return exit;
    }
    loop {
        if let Some(t) = unsafe { q.poll(slot) } {
            return t;
        }
        if unsafe { fault::aborted(ctl) } {
            return exit;
        }
        if time::global_timer_ns() > dl.secondary {
            unsafe { fault::timeout(p, wait_kind::TASK_SLOT, NONE, NONE, slot, 0) };
            return exit;
        }
        time::nanosleep(32);
    }
}

/// Runs tasks until an exit task (or an abort).
///
/// # Safety
/// All threads of a processor block, after dispatch.
#[inline(never)]
pub unsafe fn run<E: Element>(p: &MoeParams, smem: u32, q: &Queue, dl: &Deadline) {
    let at = smem + TASK;
    // Thread 0's claimed slot; claimed one task ahead so the claim's latency hides behind a task.
    let mut slot = if thread_idx() == 0 { unsafe { q.claim() } } else { 0 };
    // Timeline counters (thread 0): tasks, ns in tasks, ns waiting for a published slot.
    let (mut tasks, mut busy, mut waited, mut last) = (0u64, 0u64, 0u64, time::global_timer_ns());
    loop {
        if thread_idx() == 0 {
            let ready = time::global_timer_ns();
            let t = unsafe { wait_task(p, q, dl, slot) };
            let now = time::global_timer_ns();
            if tasks > 0 {
                busy += ready - last;
            } else {
                fault::mark(p, timeline::FIRST_TASK, now);
            }
            waited += now - ready;
            last = now;
            if t.kind != task_kind::EXIT {
                slot = unsafe { q.claim() };
            }
            unsafe {
                copy::st_shared_u32(at, t.kind);
                copy::st_shared_u32(at + 4, t.tile);
                copy::st_shared_u32(at + 8, t.n_tile);
                copy::st_shared_u32(at + 12, t.info);
                copy::st_shared_u32(at + 16, t.pair);
                copy::st_shared_u32(at + 20, t.slot);
            }
        }
        sync::sync_threads();
        let w = |i: u32| unsafe { copy::ld_shared_u32(at + 4 * i) };
        let t = Task { kind: w(0), tile: w(1), n_tile: w(2), info: w(3), pair: w(4), slot: w(5), ..Task::default() };
        sync::sync_threads();
        match t.kind {
            task_kind::GEMM0 => unsafe { ffn::gemm0::<E>(p, smem, q, &t) },
            task_kind::GEMM1 => unsafe { ffn::gemm1::<E>(p, smem, &t) },
            task_kind::COMBINE => unsafe { combine::run::<E>(p, t.tile) },
            _ => {
                fault::mark(p, timeline::LAST_TASK, last);
                fault::mark(p, timeline::TASKS, tasks);
                fault::mark(p, timeline::BUSY_NS, busy);
                fault::mark(p, timeline::WAIT_NS, waited);
                return;
            }
        }
        tasks += 1;
    }
}
