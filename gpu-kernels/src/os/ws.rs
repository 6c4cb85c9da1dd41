//! Warp-specialized processor blocks (sm_90a, 384 threads, one per SM): warpgroup 0 is the
//! producer, warpgroups 1 and 2 are consumers that share every task, a 128x256 output tile
//! (`layout::WS_TILE_N`; the roles' task counts follow `MoeParams::tile_n`).
//!
//! - Producer: thread 0 claims and waits for tasks as the 128-thread processor does; the
//!   warpgroup fills the task's row tables, hands the task to both consumers through task slot
//!   `i % 2`, then streams the task's stages into a ring of `WS_STAGES`: the weight rows by TMA
//!   (one 256-row box, or W1's and W3's 128 rows when gated) and the gathered A rows by cp.async,
//!   all completing on the stage's `full` barrier.
//! - Consumer c: waits for the slot, runs wgmma m64n256 on rows `64 c ..` of each stage as it
//!   lands (freeing it through its `empty` barrier once the next stage's wgmmas are issued),
//!   stores its rows from registers and counts its half of the task done (every per-task count
//!   is reached twice, `MoeParams::task_parts`), then frees the slot. Combine tasks go to
//!   consumer 0. When a task streams its row tile (the tile's first GEMM0 task reads gathered
//!   rows that later tasks read by TMA), consumer 0's thread 0 stores each stage's A into the
//!   dispatch rows as it lands, and releases the tile's stored count after the epilogue.
//!
//! The producer runs ahead into the next task while the consumers compute and store.
//!
//! Every wait is bounded by the launch deadline. A wait that runs out does not leave the loop
//! early (a consumer keeps issuing its warpgroup-wide wgmma with the others); the group agrees
//! afterwards and reports `WaitKind::Pipeline`.

use super::processor::{TaskClock, load_task, store_task};
use super::queue::Queue;
use crate::fault::{self, Deadline};
use crate::ffn;
use crate::gemm::element::Mma;
use crate::gemm::epilogue;
use crate::gemm::mainloop::{Rows, SplitLoop, WsLoop, thread_rows, wait, zero_acc};
use crate::group::Group;
use crate::layout::{ErrorCode, MoeParams, NONE, TILE_K_BYTES, TILE_M, TaskKind, WS_STAGES, WS_STAGING_BYTES, WaitKind, a_maps, timeline};
use crate::ptx::{copy, mbarrier, regs, sync};
use crate::smem::{A_ROWS, BROADCAST, TASK, ws};

/// Registers per thread, in every warpgroup-uniform region of a warp-specialized block (each
/// split must fit in what the block holds at entry, and only call-free regions leave the
/// entry's count: ptxas cannot allocate a region with calls at another count):
/// - entry: ptxas gives a 384-thread entry with `.minnctapersm 1` the whole file (65536 / 384
///   rounded down to 8); warpgroup 0 runs the roles before the tasks at this count;
/// - gate: warpgroup 0's gate logits (a 128x128 wgmma tile) while the consumers wait;
/// - tasks: producer and consumers.
pub const ENTRY_REGS: u32 = 168;
const GATE_REGS: u32 = 256;
const WAITING_REGS: u32 = 104;
pub(crate) const PRODUCER_REGS: u32 = 88;
pub(crate) const CONSUMER_REGS: u32 = 208;
const _: () = assert!(128 * GATE_REGS + 256 * WAITING_REGS <= 384 * ENTRY_REGS);
const _: () = assert!(128 * PRODUCER_REGS + 256 * CONSUMER_REGS <= 384 * ENTRY_REGS);
const _: () = assert!(128 * PRODUCER_REGS + 256 * WAITING_REGS <= 384 * ENTRY_REGS);

/// Task slot words: the task's fields, then the ring position of its first stage.
const RING: u32 = 6;

/// Arrivals that complete a stage's `full` barrier: the TMA issuer's `arrive.expect_tx`, plus one
/// per producer thread (`cp.async.mbarrier.arrive.noinc` when A comes by cp.async, a plain
/// arrival when by TMA).
pub const FULL_ARRIVALS: u32 = 129;

/// Initialises the pipeline's barriers (`full_arrivals`: see [`FULL_ARRIVALS`]). Thread
/// 0, before the block barrier that starts the processors.
///
/// # Safety
/// Thread 0 of a warp-specialized block, once per launch.
pub unsafe fn init(smem: u32, full_arrivals: u32) {
    for s in 0..WS_STAGES {
        unsafe {
            mbarrier::init(smem + ws::FULL + 8 * s, full_arrivals);
            // One arrival per consumer thread of both consumers (no lane-0 branch next to
            // wgmmas in flight).
            mbarrier::init(smem + ws::EMPTY + 8 * s, 256);
        }
    }
    for i in 0..2 {
        unsafe {
            mbarrier::init(smem + ws::TASK_FULL + 8 * i, 1);
            // Both consumers free a slot.
            mbarrier::init(smem + ws::TASK_FREE + 8 * i, 2);
        }
    }
    unsafe {
        copy::st_shared_u32(smem + ws::STOP, 0);
        copy::st_shared_u32(smem + ws::STREAMED_SLICES, 0);
        copy::st_shared_u32(smem + ws::STREAMED_SLICES + 4, 0);
        copy::st_shared_u32(smem + ws::CONSUMER_WAIT, 0);
        copy::st_shared_u32(smem + ws::CONSUMER_WAIT + 4, 0);
        // No streamed tile to store until a task says so (`mainloop::store_streamed_slice`).
        copy::st_shared_u32(smem + ws::STREAM_STORE_ROW, NONE);
        for w in 0..crate::layout::TASK_CLOCK_WORDS {
            copy::st_shared_u32(smem + ws::TASK_CLOCK + 4 * w, 0);
        }
    }
    mbarrier::fence_init();
}

/// [`init`] for a forward (A gathered by cp.async, weights by TMA), with the weights' maps
/// prefetched.
///
/// # Safety
/// As [`init`]; `p.w_maps` holds the five maps.
pub unsafe fn init_for(p: &MoeParams, smem: u32) {
    for m in 0..5 {
        crate::ptx::tma::prefetch_tensormap(p.w_maps + 128 * m);
    }
    unsafe { init(smem, FULL_ARRIVALS) };
    // Where a streamed row tile's slices go (`mainloop::store_streamed_slice`): the same map for
    // the whole launch.
    let map = p.w_maps + a_maps::DISPATCH_ROWS;
    unsafe {
        copy::st_shared_u32(smem + ws::STREAM_STORE_MAP, map as u32);
        copy::st_shared_u32(smem + ws::STREAM_STORE_MAP + 4, (map >> 32) as u32);
    }
}

/// The producer warpgroup's side of a processor block: streams the operands of every task.
///
/// # Safety
/// Every thread of warpgroup 0 of a warp-specialized processor block, after dispatch and
/// [`init`], at the producer's register count.
#[inline(always)]
pub unsafe fn run_producer<E: Mma>(p: &MoeParams, smem: u32, dl: &Deadline) {
    const { assert!(E::WGMMA) };
    unsafe { producer::<E>(p, smem, dl) }
}

/// A consumer warpgroup's side of a processor block (`wg` 1 or 2).
///
/// # Safety
/// Every thread of that warpgroup, at the consumer's register count, while warpgroup 0 runs
/// [`run_producer`].
#[inline(always)]
pub unsafe fn run_consumer<E: Mma>(p: &MoeParams, smem: u32, wg: u32, dl: &Deadline) {
    const { assert!(E::WGMMA) };
    unsafe { consumer::<E>(p, smem, wg - 1, dl) }
}

/// Named barrier on which warpgroup 0 starts the consumers after the roles (ids 1-3 are the
/// warpgroups' own).
const START_BARRIER: u32 = 4;
/// Named barriers of routing: warpgroup 0 hands routing to the consumers once the logits' grid
/// barrier returned, and waits for their routing stores before the next grid barrier publishes
/// them.
const ROUTE_BARRIER: u32 = 5;
const ROUTED_BARRIER: u32 = 6;

/// Warpgroup 0's routing step of the roles, after the logits' grid barrier (`passed`: it did):
/// the consumers' eight warps route while warpgroup 0 waits (it routed alone with four: 50 us at
/// T = 16384, E = 128). One copy of the routing code, in the consumers' branch: a second one in
/// warpgroup 0's made ptxas spill across the entry.
///
/// # Safety
/// Every thread of warpgroup 0, once per launch; the consumers run [`consumers_route`].
#[inline(always)]
pub unsafe fn route(smem: u32, passed: bool) {
    unsafe { post(smem + ws::ROUTE, ROUTE_BARRIER, passed) };
    if passed {
        sync::sync_named(ROUTED_BARRIER, 384);
    }
}

/// The consumers' side of [`route`]: waits for warpgroup 0's word, takes the entry's register
/// count back (warpgroup 0 returned its gate registers) and routes.
///
/// # Safety
/// Every thread of warpgroups 1 and 2, once per launch, after [`consumers_wait`]; `p` is the
/// block's shared copy of the parameters.
#[inline(always)]
pub unsafe fn consumers_route(p: &MoeParams, smem: u32) {
    sync::sync_named(ROUTE_BARRIER, 384);
    regs::acquire::<ENTRY_REGS>();
    if unsafe { copy::ld_shared_u32(smem + ws::ROUTE) } != 0 {
        let warp = crate::util::thread_idx() / 32 - 4;
        unsafe { crate::gate::route_inline::<true>(p, smem, warp, 8) };
        sync::arrive_named(ROUTED_BARRIER, 384);
    }
}

/// Warpgroup 0, after the roles and [`enter_tasks`]: tells the consumers whether to run the
/// tasks, without waiting for them (its threads and theirs meet at two different instructions,
/// which a block barrier must not do: synccheck, perf log v19). Also publishes the parameters
/// and the mbarriers to them.
///
/// # Safety
/// Every thread of warpgroup 0, once per launch.
#[inline(always)]
pub unsafe fn start_consumers(smem: u32, go: bool) {
    unsafe { post(smem + ws::GO, START_BARRIER, go) };
}

/// Warpgroup 0 leaves `value` in the shared `word` for the consumers and arrives on named
/// `barrier` without waiting; they sync on it, then read the word.
///
/// # Safety
/// Every thread of warpgroup 0.
#[inline(always)]
unsafe fn post(word: u32, barrier: u32, value: bool) {
    if crate::util::thread_idx() == 0 {
        unsafe { copy::st_shared_u32(word, value as u32) };
    }
    sync::arrive_named(barrier, 384);
}

/// A consumer warpgroup, after [`consumers_wait`]: waits for [`start_consumers`]; its verdict.
///
/// # Safety
/// Every thread of warpgroups 1 and 2, once per launch.
#[inline(always)]
pub unsafe fn wait_for_start(smem: u32) -> bool {
    sync::sync_named(START_BARRIER, 384);
    unsafe { copy::ld_shared_u32(smem + ws::GO) != 0 }
}

/// The consumers give registers back while they wait for warpgroup 0's roles.
#[inline(always)]
pub fn consumers_wait() {
    regs::release::<WAITING_REGS>()
}

/// Warpgroup 0's gate logits, with the registers the consumers gave back.
///
/// # Safety
/// Every thread of warpgroup 0, as `gate::logits`.
#[inline(always)]
pub unsafe fn gate_logits<E: Mma>(p: &MoeParams, smem: u32) {
    converge(0);
    regs::acquire::<GATE_REGS>();
    unsafe { crate::gate::logits::<E, true>(p, smem) };
    converge(0);
    regs::release::<ENTRY_REGS>();
}

/// Register counts for processing tasks, after the roles.
#[inline(always)]
pub fn enter_tasks(wg: u32) {
    converge(wg);
    if wg == 0 { regs::release::<PRODUCER_REGS>() } else { regs::acquire::<CONSUMER_REGS>() }
}

/// Back to the entry's register count, for the code every warpgroup shares.
#[inline(always)]
pub fn leave_tasks(wg: u32) {
    converge(wg);
    if wg == 0 { regs::acquire::<ENTRY_REGS>() } else { regs::release::<ENTRY_REGS>() }
}

/// Warpgroup `wg` meets before a `setmaxnreg`, which every thread of the warpgroup must execute
/// together (`.aligned`): after the roles its warps arrive from different paths (dispatch
/// loops, block 0's OS warps), and synccheck flagged the `setmaxnreg.dec` there (perf log v12).
#[inline(always)]
fn converge(wg: u32) {
    sync::sync_warpgroup(wg + 1);
}

#[inline(always)]
unsafe fn pipeline_timeout(smem: u32, what: u32) {
    unsafe { fault::defer(smem, ErrorCode::Timeout as u32, WaitKind::Pipeline as u32, what, 0, 0) };
}

#[inline(always)]
unsafe fn producer<E: Mma>(p: &MoeParams, smem: u32, dl: &Deadline) {
    let q = &Queue::new(p);
    let g = Group::this(smem + BROADCAST);
    let at = smem + TASK;
    let mut slot = if g.tid() == 0 { unsafe { q.claim() } } else { 0 };
    let mut clock = TaskClock::new();
    // Tasks handed out (task i goes through slot i % 2), and the ring position of the next stage.
    let (mut given, mut ring) = (0u32, 0u32);
    loop {
        if g.tid() == 0 {
            let stop = unsafe { copy::ld_shared_u32(smem + ws::STOP) } != 0;
            let t = unsafe { clock.next::<E, false>(p, smem, q, dl, &mut slot, stop) };
            unsafe { store_task(at, &t) };
        }
        g.sync();
        let t = unsafe { load_task(at) };
        g.sync();
        let gemm = t.is_gemm();
        if !gemm && t.kind != TaskKind::Combine as u32 {
            break;
        }
        // Slot given % 2, once both consumers are done with its previous task.
        let i = given % 2;
        let free = given < 2 || unsafe { wait(smem + ws::TASK_FREE + 8 * i, (given / 2 - 1) & 1, dl.secondary) };
        if !free {
            unsafe { pipeline_timeout(smem, i) };
        }
        // A consumer that failed set STOP before freeing its slot.
        if g.sync_or(!free || unsafe { copy::ld_shared_u32(smem + ws::STOP) } != 0) {
            break;
        }
        let out_rows = smem + ws::OUT_ROWS + i * TILE_M * 8;
        // Read as late as possible (a streamed tile's stored slices grow), shared by the
        // barrier that ends `ffn::rows`.
        if gemm && g.tid() == 0 {
            unsafe { copy::st_shared_u32(smem + ws::BOXED_SLICES, ffn::boxed_slices(p, &t)) };
        }
        if gemm && !unsafe { ffn::rows::<E>(p, smem, &g, &t, smem + A_ROWS, out_rows) } {
            break;
        }
        if g.tid() == 0 {
            let s = smem + ws::SLOTS + i * 4 * 16;
            unsafe {
                store_task(s, &t);
                copy::st_shared_u32(s + 4 * RING, ring);
                mbarrier::arrive(smem + ws::TASK_FULL + 8 * i);
            }
        }
        given += 1;
        clock.tasks += 1;
        // A combine task (after every GEMM1 landed) is the consumers' alone.
        if !gemm {
            continue;
        }
        let plan = ffn::plan::<E>(p, &t);
        // Only the tile's rows are loaded (the table holds no others); the rest of A is stale and
        // its outputs are never stored.
        let ta = thread_rows(&Rows::gathered(smem + A_ROWS, 0, plan.tile.rows));
        let (a, b) = (ffn::a_box(p, &t, &plan), ffn::weight_boxes(p, &t, &plan));
        // The staging rows were written by st.global (other blocks' GEMM0 epilogues, fenced
        // there and acquired with the task): order them before this block's TMA reads. Thread 0
        // issues the copies; the whole warpgroup fences (thread 0 alone cost 24 spill bytes).
        if a.is_some() {
            crate::ptx::tma::fence_proxy_async_global();
        }
        let (k_tiles, boxed) = (plan.k_bytes / TILE_K_BYTES, unsafe { copy::ld_shared_u32(smem + ws::BOXED_SLICES) });
        // A task that reads a streamed tile (the only ones with a bound): counted for the timeline.
        if boxed != u32::MAX && g.tid() == 0 {
            let at = smem + ws::STREAMED_SLICES;
            unsafe {
                copy::st_shared_u32(at, copy::ld_shared_u32(at) + boxed.min(k_tiles));
                copy::st_shared_u32(at + 4, copy::ld_shared_u32(at + 4) + k_tiles);
            }
        }
        let mut ok = true;
        for kt in 0..k_tiles {
            let a = if kt < boxed { a } else { None };
            ok &= unsafe { WsLoop::produce(smem, ring + kt, &ta, a, &b, kt, dl.secondary) };
        }
        ring += k_tiles;
        // The row table is read at issue: the next task may overwrite it once all have issued.
        if g.sync_or(!ok) {
            unsafe { pipeline_timeout(smem, NONE) };
            break;
        }
    }
    // Exit: the next slot carries an exit task once both consumers are done with it.
    let i = given % 2;
    if given >= 2 && !unsafe { wait(smem + ws::TASK_FREE + 8 * i, (given / 2 - 1) & 1, dl.secondary) } {
        unsafe { pipeline_timeout(smem, i) };
    }
    if g.tid() == 0 {
        unsafe {
            copy::st_shared_u32(smem + ws::SLOTS + i * 4 * 16, TaskKind::Exit as u32);
            mbarrier::arrive(smem + ws::TASK_FULL + 8 * i);
        }
        clock.report(p);
        let at = smem + ws::STREAMED_SLICES;
        let (boxed, all) = unsafe { (copy::ld_shared_u32(at), copy::ld_shared_u32(at + 4)) };
        fault::mark(p, timeline::STREAMED_SLICES, (boxed as u64) << 32 | all as u64);
    }
}

#[inline(always)]
unsafe fn consumer<E: Mma>(p: &MoeParams, smem: u32, c: u32, dl: &Deadline) {
    let q = &Queue::new(p);
    let g = Group::this(smem + ws::WORDS + 16 * c);
    let mut taken = 0u32;
    loop {
        let i = taken % 2;
        let (slot, out_rows) = (smem + ws::SLOTS + i * 4 * 16, smem + ws::OUT_ROWS + i * TILE_M * 8);
        // Consumer 0's idle time, when a timeline is recorded (`timeline::CONSUMER_WAIT_NS`).
        let clocked = c == 0 && p.timeline != 0;
        let t0 = if clocked { crate::ptx::time::global_timer_ns() } else { 0 };
        let ready = unsafe { wait(smem + ws::TASK_FULL + 8 * i, (taken / 2) & 1, dl.secondary) };
        if g.sync_or(!ready) {
            unsafe { pipeline_timeout(smem, c) };
            break;
        }
        let t = unsafe { load_task(slot) };
        if clocked && g.tid() == 0 && taken > 0 {
            let dt = (crate::ptx::time::global_timer_ns() - t0) as u32;
            let at = smem + ws::CONSUMER_WAIT + if t.is_gemm() { 0 } else { 4 };
            unsafe { copy::st_shared_u32(at, copy::ld_shared_u32(at) + dt) };
        }
        let ring = unsafe { copy::ld_shared_u32(slot + 4 * RING) };
        if t.kind == TaskKind::Exit as u32 {
            break;
        }
        let mut done = true;
        if t.kind == TaskKind::Combine as u32 {
            // Both consumers: warps 0..8 over the task's tokens.
            unsafe { crate::combine::run_inline::<E>(p, t.tile, c * 4 + g.tid() / 32, 8) };
            g.sync();
        } else {
            let plan = ffn::plan::<E>(p, &t);
            // Consumer 0's task clock: its thread 0 keeps the laps in shared memory (a start time
            // held in registers across the mainloop spilled).
            let clock = clocked && g.tid() == 0;
            if clock {
                // Kinds: 0 GEMM0 storing its row tile, 1 other GEMM0, 2 GEMM1.
                let kind = if t.kind == TaskKind::Gemm1 as u32 { 2 } else { (ffn::stored_row(p, &t) == NONE) as u32 };
                unsafe { task_clock_start(smem, kind) };
            }
            // The task's first one of a streamed row tile stores the tile's rows from its stages
            // (`mainloop::store_streamed_slice`, consumer 0's thread 0: block thread 128, read
            // again here, as there; a flag held across the task loop spilled).
            if crate::ptx::warp::tid_x_reread() == 128 {
                unsafe {
                    copy::st_shared_u32(smem + ws::STREAM_STORE_ROW, ffn::stored_row(p, &t));
                    copy::st_shared_u32(smem + ws::STREAM_STORE_SLICES, plan.k_bytes / TILE_K_BYTES);
                }
            }
            let mut acc = zero_acc();
            let ok = unsafe { WsLoop::consume::<E>(smem, ring, plan.k_bytes / TILE_K_BYTES, c, &mut acc, dl.secondary) };
            done = !g.sync_or(!ok);
            if clock {
                unsafe { task_clock_lap(smem, TaskLap::Mainloop) };
            }
            if done {
                let gated = p.gated() && t.kind == TaskKind::Gemm0 as u32;
                let dest = |r: u32| unsafe { ffn::row(out_rows, r) } as *mut u8;
                unsafe {
                    let staging = smem + ws::STAGING + c * WS_STAGING_BYTES;
                    epilogue::store::<E>(&g, staging, &acc, c, gated, plan.tile.rows, plan.cols, ffn::output::<E>(p, &t, &plan), dest);
                    // GEMM0's rows are GEMM1's A, which may come by TMA (`ffn::a_box`).
                    crate::ptx::tma::fence_proxy_async_global();
                    if clock {
                        task_clock_lap(smem, TaskLap::Epilogue);
                    }
                    // A streamed tile's rows, stored from the stages, are complete by now: the
                    // tasks reading the tile may box them. (Released slice by slice from the
                    // mainloop, three stages behind, the waits for the stores held the
                    // consumer back: perf log v33.)
                    if crate::ptx::warp::tid_x_reread() == 128 && copy::ld_shared_u32(smem + ws::STREAM_STORE_ROW) != NONE {
                        crate::ptx::tma::bulk_wait_group::<0>();
                        crate::ptx::tma::fence_proxy_async_global();
                        let slices = copy::ld_shared_u32(smem + ws::STREAM_STORE_SLICES);
                        sync::st_release_gpu_u32(ffn::stored_slices_word(p, t.tile), slices);
                    }
                    done = ffn::finish(p, smem, &g, q, &t, &plan.tile);
                    if clock {
                        task_clock_lap(smem, TaskLap::Finish);
                    }
                }
            } else {
                unsafe { pipeline_timeout(smem, c) };
            }
        }
        if g.tid() == 0 {
            unsafe {
                if !done {
                    copy::st_shared_u32(smem + ws::STOP, 1);
                }
                mbarrier::arrive(smem + ws::TASK_FREE + 8 * i);
            }
        }
        if !done {
            break;
        }
        taken += 1;
    }
    // `fault::mark` is thread 0's (the producer's): consumer 0 stores its slot itself.
    if c == 0 && g.tid() == 0 {
        let (mid, end) = unsafe { (copy::ld_shared_u32(smem + ws::CONSUMER_WAIT), copy::ld_shared_u32(smem + ws::CONSUMER_WAIT + 4)) };
        fault::mark_by_caller(p, timeline::CONSUMER_WAIT_NS, (mid as u64) << 32 | end as u64);
        for kind in 0..timeline::TASK_KINDS as u32 {
            let w = |field: u32| unsafe { copy::ld_shared_u32(smem + ws::task_lap(kind, field)) } as u64;
            let slot = timeline::TASK_NS + 2 * kind as usize;
            fault::mark_by_caller(p, slot, w(0) << 32 | w(1));
            fault::mark_by_caller(p, slot + 1, w(2) << 32 | w(3));
        }
    }
}

/// A lap of consumer 0's task clock: the part of a GEMM task that just ended.
#[derive(Clone, Copy)]
enum TaskLap {
    Mainloop = 0,
    Epilogue = 1,
    /// `ffn::finish`; also counts the task.
    Finish = 2,
}

/// Starts consumer 0's clock on a GEMM task of `kind` (`timeline::TASK_NS`).
///
/// # Safety
/// Consumer 0's thread 0, when a timeline is recorded.
#[inline(always)]
unsafe fn task_clock_start(smem: u32, kind: u32) {
    unsafe {
        copy::st_shared_u32(smem + ws::TASK_CLOCK_START, crate::ptx::time::global_timer_ns() as u32);
        copy::st_shared_u32(smem + ws::TASK_CLOCK_KIND, kind);
    }
}

/// Adds the time since the clock's last start or lap to `lap` of the running task's kind.
///
/// # Safety
/// As [`task_clock_start`], after it.
#[inline(always)]
unsafe fn task_clock_lap(smem: u32, lap: TaskLap) {
    let (start, now) = (smem + ws::TASK_CLOCK_START, crate::ptx::time::global_timer_ns() as u32);
    unsafe {
        let kind = copy::ld_shared_u32(smem + ws::TASK_CLOCK_KIND);
        let sum = smem + ws::task_lap(kind, lap as u32);
        copy::st_shared_u32(sum, copy::ld_shared_u32(sum) + now.wrapping_sub(copy::ld_shared_u32(start)));
        copy::st_shared_u32(start, now);
        if let TaskLap::Finish = lap {
            let tasks = smem + ws::task_lap(kind, 3);
            copy::st_shared_u32(tasks, copy::ld_shared_u32(tasks) + 1);
        }
    }
}
