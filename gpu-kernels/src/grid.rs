//! The grid barrier: all blocks of the cooperative launch are co-resident, so blocks may wait for
//! each other. Sense-reversing: the last arrival resets the count and bumps the generation, so the
//! words are ready for the next barrier and the next launch.

use crate::fault::{self, Deadline};
use crate::layout::{MoeParams, NONE, WaitKind};
use crate::ptx::{copy, sync, time};
use crate::smem;
use crate::util::{grid_dim, thread_idx};

/// Waits until every block arrived. Returns false (every thread) when the launch is aborting.
/// `LEAN`: a launch of the lean layout (the sweep), whose broadcast word and parameters lie
/// elsewhere (see `fault::fail`). Kept out of line: inlined twice into the 128-thread entries
/// it costs their task loops spills.
///
/// # Safety
/// All threads of every block call it the same number of times.
#[inline(never)]
pub unsafe fn barrier<const LEAN: bool>(p: &MoeParams, dl: &Deadline, smem_base: u32) -> bool {
    unsafe { barrier_inline::<LEAN>(p, dl, smem_base) }
}

/// [`barrier`] inlined, for the warp-specialized entries: a call there fails ptxas's register
/// allocation (C7600) and serializes their wgmma.
///
/// # Safety
/// As [`barrier`].
#[inline(always)]
pub unsafe fn barrier_inline<const LEAN: bool>(p: &MoeParams, dl: &Deadline, smem_base: u32) -> bool {
    let broadcast = smem_base + if LEAN { crate::lean::BROADCAST } else { smem::BROADCAST };
    let ctl = fault::control(p);
    sync::sync_threads();
    if thread_idx() == 0 {
        let ok = unsafe {
            let gen_word = &raw mut (*ctl).barrier_gen;
            let count = &raw mut (*ctl).barrier_count;
            let generation = sync::ld_acquire_gpu_u32(gen_word);
            if sync::atom_add_acq_rel_gpu_u32(count, 1) == grid_dim() - 1 {
                sync::st_relaxed_gpu_u32(count, 0);
                sync::st_release_gpu_u32(gen_word, generation.wrapping_add(1));
                true
            } else {
                loop {
                    let g = sync::ld_acquire_gpu_u32(gen_word);
                    if g != generation {
                        break true;
                    }
                    if fault::aborted(p, ctl) {
                        fault::stopped_in::<LEAN>(p);
                        break false;
                    }
                    if time::global_timer_ns() > dl.secondary {
                        fault::timeout_in::<LEAN>(p, WaitKind::GridBarrier as u32, NONE, NONE, NONE, g as u64);
                        break false;
                    }
                    time::nanosleep(100);
                }
            }
        };
        unsafe { copy::st_shared_u32(broadcast, ok as u32) };
    }
    sync::sync_threads();
    let ok = unsafe { copy::ld_shared_u32(broadcast) } != 0;
    sync::sync_threads();
    ok
}
