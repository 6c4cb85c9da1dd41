//! Kernel entry points of the fused MoE layer: one cooperative launch per forward per GPU.
//!
//! gate logits (all blocks) -> grid barrier -> routing (all blocks) -> grid barrier -> block 0: OS
//! (scheduler + subscribers); blocks 1..: dispatch their share of routed rows, then process tasks
//! (GEMM0, GEMM1, combine) until told to exit.

use core::intrinsics::gpu::gpu_launch_sized_workgroup_mem;

use crate::fault::{self, Deadline};
use crate::gemm::element::{Bf16, F16, F32, Mma};
use crate::layout::{GEMM0_COUNTERS, MoeParams, gate_chunks, task_tiles, timeline};
use crate::os::{self, processor};
use crate::ptx::{copy, sync};
use crate::util::{block_idx, grid_dim, thread_idx};
use crate::{decode, dispatch, gate, grid, smem};

/// The dynamic shared memory; 1024-byte alignment leaves room for swizzled TMA/wgmma layouts.
#[repr(C, align(1024))]
pub(crate) struct SharedBase(u8);

/// Clears this launch's counters before the gate's grid barrier publishes them. Peers add to
/// `returned_rows` only after receiving this GPU's rows of this launch, so never before this.
unsafe fn reset(p: &MoeParams) {
    // GEMM0's counters of every row tile (per GEMM1 K split, and the splits queued).
    let tiles = task_tiles(p) as usize * GEMM0_COUNTERS as usize;
    let done = (p.workspace + p.ws.gemm0_done) as *mut u32;
    let counts = (p.workspace + p.ws.chunk_counts) as *mut u32;
    let count_words = (gate_chunks(p.tokens) * p.experts) as usize;
    // K-split GEMM1 and GEMM0 tasks count their splits per (row tile, column tile).
    let split_done = (p.workspace + p.ws.gemm1_split_done) as *mut u32;
    let splitting = p.gemm1_splits > 1 || p.gemm0_splits() > 1;
    let split_words = if splitting { ((p.ws.queue - p.ws.gemm1_split_done) / 4) as usize } else { 0 };
    let mut i = (block_idx() * 128 + thread_idx()) as usize;
    while i < tiles.max(count_words).max(split_words) {
        if i < tiles {
            unsafe { *done.add(i) = 0 };
        }
        if i < count_words {
            unsafe { *counts.add(i) = 0 };
        }
        if i < split_words {
            unsafe { *split_done.add(i) = 0 };
        }
        i += (grid_dim() * 128) as usize;
    }
    if block_idx() == 0 && thread_idx() == 0 {
        let ctl = fault::control(p);
        unsafe {
            sync::st_relaxed_gpu_u32(&raw mut (*ctl).queue_tail, 0);
            sync::st_relaxed_gpu_u32(&raw mut (*ctl).queue_claim, 0);
            sync::st_relaxed_gpu_u32(&raw mut (*ctl).gemm1_rows_published, 0);
            sync::st_relaxed_gpu_u32(&raw mut (*ctl).tiles, 0);
            sync::st_relaxed_gpu_u32(&raw mut (*ctl).returned_rows, 0);
            #[cfg(feature = "nvshmem")]
            sync::st_volatile_u64(&raw mut (*ctl).returned_put, 0);
        }
    }
}

/// Copies the by-value parameters into this block's shared memory; returns the copy.
#[inline(always)]
unsafe fn params_to_shared(param: &MoeParams, base: *mut u8) -> &'static MoeParams {
    let dst = unsafe { base.add(smem::PARAMS as usize) } as *mut MoeParams;
    // A whole-struct copy: constant offsets, so the parameter is read in place (ld.param) rather
    // than first copied to local memory as an indexed access would force.
    if thread_idx() == 0 {
        unsafe { dst.write(*param) };
        unsafe { fault::clear_deferred(copy::smem_addr(base)) };
    }
    sync::sync_threads();
    unsafe { &*dst }
}

/// The roles before the GEMM tasks, on the role warpgroup: clear this launch's counters, gate
/// logits (`logits`, warp-specialized blocks change register counts around it), grid barrier,
/// routing, grid barrier; then block 0 runs the OS and every other block dispatches its share of
/// routed rows. True on a processor block that goes on to its tasks. `grid_barrier` is
/// `grid::barrier` or its inlined form; `route(passed)` runs once after the first grid barrier,
/// whether or not it passed (the warp-specialized consumers wait to route).
#[inline(always)]
unsafe fn prologue<E: Mma, const STATIC: bool>(
    p: &MoeParams,
    smem: u32,
    dl: &Deadline,
    logits: impl FnOnce(),
    grid_barrier: unsafe fn(&MoeParams, &Deadline, u32) -> bool,
    route: impl FnOnce(bool),
) -> bool {
    unsafe {
        reset(p);
        logits();
        fault::mark_now(p, timeline::LOGITS_DONE);
        if !grid_barrier(p, dl, smem) {
            route(false);
            return false;
        }
        fault::mark_now(p, timeline::ROUTE_BEGIN);
        if STATIC && p.static_plan() {
            // Every block routes the few tokens and lays out the same tiles: no second barrier,
            // no dispatch, no OS block (docs/decode-plan.md).
            gate::route_all::<false>(p);
            decode::prepare(p, smem);
            fault::mark_now(p, timeline::GATE_DONE);
            fault::mark_now(p, timeline::BARRIER_DONE);
            fault::mark_now(p, timeline::DISPATCH_DONE);
            return true;
        }
        route(true);
        fault::mark_now(p, timeline::GATE_DONE);
        if !grid_barrier(p, dl, smem) {
            return false;
        }
        fault::mark_now(p, timeline::BARRIER_DONE);
        if block_idx() == 0 {
            os::run(p, smem, dl);
            return false;
        }
        // The 128-thread engines (STATIC) are the ones the host runs with NVSHMEM put peers.
        #[cfg(feature = "nvshmem")]
        dispatch::run::<E, STATIC>(p, smem, block_idx() - 1);
        #[cfg(not(feature = "nvshmem"))]
        dispatch::run::<E, false>(p, smem, block_idx() - 1);
    }
    fault::mark_now(p, timeline::DISPATCH_DONE);
    true
}

/// The forward on 128-thread blocks (two per SM): every block is one warpgroup that loads,
/// multiplies and stores.
#[inline(always)]
unsafe fn forward<E: Mma>(param: &MoeParams) {
    // The launch sizes the dynamic shared memory (layout::SHARED_BYTES).
    let base = gpu_launch_sized_workgroup_mem::<SharedBase>() as *mut u8;
    let smem = copy::smem_addr(base);
    let p = unsafe { params_to_shared(param, base) };
    let dl = Deadline::new(p.timeout_ns);
    fault::mark_now(p, timeline::START);
    unsafe {
        let route = |passed: bool| {
            if passed {
                gate::route(p)
            }
        };
        if prologue::<E, true>(p, smem, &dl, || gate::logits_any_t::<E>(p, smem), grid::barrier::<false>, route) {
            processor::run::<E>(p, smem, &dl);
            sync::sync_threads();
            fault::raise_deferred(p, smem);
        }
    }
    fault::mark_now(p, timeline::END);
}

/// The forward on warp-specialized blocks (sm_90a, 384 threads, one per SM): warpgroup 0 runs
/// the roles before the GEMM tasks (with most of the registers) while the consumer warpgroups
/// wait at a block barrier; then the block processes tasks as producer + two consumers
/// (`os::ws`). Register counts change only in warpgroup-uniform branches, and every warpgroup
/// is back at the entry's count where they share code again.
#[cfg(target_feature = "sm_90a")]
#[inline(always)]
unsafe fn forward_ws<E: Mma>(param: &MoeParams) {
    // The launch sizes the dynamic shared memory (layout::WS_SHARED_BYTES).
    let base = gpu_launch_sized_workgroup_mem::<SharedBase>() as *mut u8;
    let smem = copy::smem_addr(base);
    let wg = thread_idx() / 128;
    let shared_params = unsafe { &*(base.add(smem::PARAMS as usize) as *const MoeParams) };
    fault::mark_warpgroup(param, 1);
    if wg == 0 {
        let p = unsafe { params_to_shared(param, base) };
        if thread_idx() == 0 {
            unsafe { os::ws::init_for(p, smem) };
        }
        let dl = Deadline::new(p.timeout_ns);
        fault::mark_now(p, timeline::START);
        fault::mark_warpgroup(param, 2);
        let (logits, route) = (|| unsafe { os::ws::gate_logits::<E>(p, smem) }, |passed| unsafe { os::ws::route(smem, passed) });
        let go = unsafe { prologue::<E, false>(p, smem, &dl, logits, grid::barrier_inline::<false>, route) };
        fault::mark_warpgroup(param, 3);
        os::ws::enter_tasks(wg);
        fault::mark_warpgroup(param, 4);
        unsafe { os::ws::start_consumers(smem, go) };
        if go {
            fault::mark_warpgroup(param, 5);
            unsafe { os::ws::run_producer::<E>(p, smem, &dl) };
        }
    } else {
        os::ws::consumers_wait();
        unsafe { os::ws::consumers_route(shared_params, smem) };
        fault::mark_warpgroup(param, 2);
        let go = unsafe { os::ws::wait_for_start(smem) };
        fault::mark_warpgroup(param, 4);
        os::ws::enter_tasks(wg);
        fault::mark_warpgroup(param, 5);
        if go {
            let dl = Deadline::new(shared_params.timeout_ns);
            unsafe { os::ws::run_consumer::<E>(shared_params, smem, wg, &dl) };
        }
    }
    fault::mark_warpgroup(param, 6);
    os::ws::leave_tasks(wg);
    fault::mark_warpgroup(param, 7);
    sync::sync_block_or(false);
    fault::mark_warpgroup(param, 8);
    unsafe { fault::raise_deferred(shared_params, smem) };
    fault::mark_now(shared_params, timeline::END);
}

// The kernels take MoeParams by value (improper_gpu_kernel_arg warns about aggregates in the
// gpu-kernel ABI): it is #[repr(C)] of u32/u64 fields only, so its .param layout is the C one the
// host passes; every GPU test goes through it.

/// The MoE layer forward with bf16 activations and weights.
///
/// # Safety
/// Launched cooperatively by the host with parameters built from `layout` for this device.
#[allow(improper_gpu_kernel_arg)]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn moe_forward_bf16(p: MoeParams) {
    unsafe { forward::<Bf16>(&p) }
}

/// The MoE layer forward with f16 activations and weights.
///
/// # Safety
/// As [`moe_forward_bf16`].
#[allow(improper_gpu_kernel_arg)]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn moe_forward_f16(p: MoeParams) {
    unsafe { forward::<F16>(&p) }
}

/// The bf16 forward on the mma.sync path on Hopper (A/B comparison with the wgmma default).
///
/// # Safety
/// As [`moe_forward_bf16`].
#[cfg(target_feature = "sm_90a")]
#[allow(improper_gpu_kernel_arg)]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn moe_forward_bf16_mma_sync(p: MoeParams) {
    unsafe { forward::<crate::gemm::element::SyncMma<Bf16>>(&p) }
}

/// The MoE layer forward with f32 storage and tf32 tensor-core math.
///
/// # Safety
/// As [`moe_forward_bf16`].
#[allow(improper_gpu_kernel_arg)]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn moe_forward_f32(p: MoeParams) {
    unsafe { forward::<F32>(&p) }
}

/// The bf16 forward on warp-specialized blocks (producer + two wgmma consumer warpgroups).
///
/// # Safety
/// As [`moe_forward_bf16`], with 384 threads and `layout::WS_SHARED_BYTES`.
#[cfg(target_feature = "sm_90a")]
#[allow(improper_gpu_kernel_arg)]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn moe_forward_bf16_ws(p: MoeParams) {
    unsafe { forward_ws::<Bf16>(&p) }
}

/// The f16 forward on warp-specialized blocks.
///
/// # Safety
/// As [`moe_forward_bf16_ws`].
#[cfg(target_feature = "sm_90a")]
#[allow(improper_gpu_kernel_arg)]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn moe_forward_f16_ws(p: MoeParams) {
    unsafe { forward_ws::<F16>(&p) }
}
