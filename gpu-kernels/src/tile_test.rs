//! A standalone GEMM-tile kernel: one block computes `out = A[rows]·Bᵀ` for one 128x128 tile with
//! the fused kernel's own mainloop and epilogue (whichever MMA path the element type selects), so
//! each path is checked against the CPU on odd shapes and gathered rows apart from the fused
//! kernel: a wrong fragment layout or swizzle shows up here as a wrong element, not as a bad
//! forward.

use core::intrinsics::gpu::gpu_launch_sized_workgroup_mem;

use crate::gemm::element::{Bf16, Element, F32};
use crate::gemm::epilogue;
use crate::gemm::mainloop::{Rows, mainloop, zero_acc};
use crate::layout::GemmTileArgs;
use crate::moe::SharedBase;
use crate::ptx::{copy, sync};
use crate::smem::A_ROWS;
use crate::util::thread_idx;

/// One tile of `args` on the MMA path `E` selects (see [`GemmTileArgs`]).
#[inline(always)]
unsafe fn tile<E: Element>(args: &GemmTileArgs) {
    let base = gpu_launch_sized_workgroup_mem::<SharedBase>() as *mut u8;
    let smem = copy::smem_addr(base);
    let (rows, n_rows) = (args.rows as *const u32, args.n_rows);
    let tid = thread_idx();
    if tid < n_rows {
        let row = args.a + unsafe { *rows.add(tid as usize) } as u64 * args.lda;
        unsafe { copy::st_shared_v2(smem + A_ROWS + tid * 8, row as u32, (row >> 32) as u32) };
    }
    sync::sync_threads();
    let a_rows = Rows::gathered(smem + A_ROWS, 0, n_rows);
    let b_rows = Rows::new(args.b as *const u8, args.ldb, args.n_cols);
    let mut acc = zero_acc();
    let dest = |r: u32| (args.out + r as u64 * args.ldo) as *mut u8;
    unsafe {
        mainloop::<E>(smem, &a_rows, &b_rows, args.k_bytes, &mut acc);
        epilogue::stage::<E>(smem, &acc);
        epilogue::emit::<E>(smem, false, n_rows, args.n_cols, |_, x, _| x, dest);
    }
}

/// One bf16 tile on the build's default path (wgmma on sm_90a, mma.sync on sm_80).
///
/// # Safety
/// One block of 128 threads with `layout::SHARED_BYTES` of dynamic shared memory; `rows` holds
/// `n_rows <= 128` row indices of A; A and B rows hold `k_bytes` (a multiple of 128); `out` holds
/// `n_rows` rows of `ldo` bytes, `ldo >= n_cols` rounded up to 8 values.
#[allow(improper_gpu_kernel_arg)]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn gemm_tile_bf16(args: GemmTileArgs) {
    unsafe { tile::<Bf16>(&args) }
}

/// [`gemm_tile_bf16`] on the mma.sync path of the sm_90a build.
///
/// # Safety
/// As [`gemm_tile_bf16`].
#[cfg(target_feature = "sm_90a")]
#[allow(improper_gpu_kernel_arg)]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn gemm_tile_bf16_mma_sync(args: GemmTileArgs) {
    unsafe { tile::<crate::gemm::element::SyncMma<Bf16>>(&args) }
}

/// [`gemm_tile_bf16`] with f32 storage on tf32 tensor cores.
///
/// # Safety
/// As [`gemm_tile_bf16`] (K counted in bytes: 32 f32 per 128).
#[allow(improper_gpu_kernel_arg)]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn gemm_tile_f32(args: GemmTileArgs) {
    unsafe { tile::<F32>(&args) }
}

/// The warp-specialized pipeline alone (sm_90a, 384 threads): the producer streams, the two
/// consumers compute and store, over tiles `blockIdx + i·gridDim` of `out = A[rows]·Bᵀ`
/// (`m_tiles` x `n_tiles` tiles of 128x128, K = `k_bytes`), without the MoE roles around it.
/// `progress[3·block + warpgroup]` (host-mapped memory) holds each warpgroup's last step, so a
/// hang shows where it stopped: 1 started, 2 registers set, 3 + 2·i task i begun, 4 + 2·i task i
/// done, 0xffff finished.
///
/// # Safety
/// 384 threads, `layout::WS_SHARED_BYTES` of dynamic shared memory; `rows` holds `m_tiles·128`
/// row indices of A; `out` holds `m_tiles·128` rows of `ldo` bytes.
#[cfg(target_feature = "sm_90a")]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn ws_tile_gemm_bf16(
    a: *const u8,
    rows: *const u32,
    lda: u64,
    b: *const u8,
    ldb: u64,
    k_bytes: u32,
    m_tiles: u32,
    n_tiles: u32,
    out: *mut u8,
    ldo: u64,
    progress: *mut u32,
) {
    unsafe { ws_tile(a, rows, lda, BSource::Rows(b, ldb), k_bytes, m_tiles, n_tiles, out, ldo, progress) }
}

/// [`ws_tile_gemm_bf16`] with B (the weights' role) loaded by TMA from the 2D tensor map at
/// `b_map` (global memory; 128-byte swizzle, box 64 x 128 bf16), A still by cp.async.
///
/// # Safety
/// As [`ws_tile_gemm_bf16`]; `b_map` describes B with at least `n_tiles·128` rows.
#[cfg(target_feature = "sm_90a")]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn ws_tile_gemm_bf16_tma(
    a: *const u8,
    rows: *const u32,
    lda: u64,
    b_map: u64,
    k_bytes: u32,
    m_tiles: u32,
    n_tiles: u32,
    out: *mut u8,
    ldo: u64,
    progress: *mut u32,
) {
    unsafe { ws_tile(a, rows, lda, BSource::Tma(b_map), k_bytes, m_tiles, n_tiles, out, ldo, progress) }
}

/// Where the pipeline's B operand comes from.
#[cfg(target_feature = "sm_90a")]
#[derive(Clone, Copy)]
enum BSource {
    /// Rows `ldb` bytes apart, by the producer's cp.async.
    Rows(*const u8, u64),
    /// A 2D tensor map in global memory, by TMA.
    Tma(u64),
}

#[cfg(target_feature = "sm_90a")]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn ws_tile(
    a: *const u8,
    rows: *const u32,
    lda: u64,
    b: BSource,
    k_bytes: u32,
    m_tiles: u32,
    n_tiles: u32,
    out: *mut u8,
    ldo: u64,
    progress: *mut u32,
) {
    use crate::gemm::mainloop::{consume, produce, produce_tma_b, thread_rows};
    use crate::group::Group;
    use crate::layout::TILE_K_BYTES;
    use crate::os::ws::{self as wsos, CONSUMER_REGS, ENTRY_REGS, FULL_ARRIVALS, FULL_ARRIVALS_TMA_B, PRODUCER_REGS};
    use crate::ptx::{mbarrier, regs, time, tma};
    use crate::smem::{BROADCAST, ws};
    use crate::util::{block_idx, grid_dim};

    let base = gpu_launch_sized_workgroup_mem::<SharedBase>() as *mut u8;
    let smem = copy::smem_addr(base);
    let wg = thread_idx() / 128;
    let mark = |step: u32| {
        if thread_idx() % 128 == 0 {
            unsafe { sync::st_volatile_u32(progress.add((3 * block_idx() + wg) as usize), step) };
        }
    };
    mark(1);
    if thread_idx() == 0 {
        let full_arrivals = match b {
            BSource::Rows(..) => FULL_ARRIVALS,
            BSource::Tma(map) => {
                tma::prefetch_tensormap(map);
                FULL_ARRIVALS_TMA_B
            }
        };
        unsafe { wsos::init(smem, full_arrivals) };
    }
    sync::sync_block_or(false);
    let deadline = time::global_timer_ns() + 2_000_000_000;
    let k_tiles = k_bytes / TILE_K_BYTES;
    let tiles = m_tiles * n_tiles;
    if wg == 0 {
        regs::release::<PRODUCER_REGS>();
        mark(2);
        let g = Group::warpgroup(0, smem + BROADCAST);
        let (mut given, mut ring, mut i) = ([0u32; 2], 0u32, 0u32);
        let mut t = block_idx();
        while t < tiles {
            let c = i % 2;
            mark(3 + 2 * i);
            if given[c as usize] > 0 {
                unsafe { crate::gemm::mainloop::wait(smem + ws::TASK_FREE + 8 * c, (given[c as usize] - 1) & 1, deadline) };
            }
            let (m, n) = (t / n_tiles, t % n_tiles);
            let row = m * 128 + g.tid;
            let addr = a.wrapping_add((unsafe { *rows.add(row as usize) } as u64 * lda) as usize) as u64;
            unsafe { copy::st_shared_v2(smem + A_ROWS + g.tid * 8, addr as u32, (addr >> 32) as u32) };
            g.sync();
            if g.tid == 0 {
                let s = smem + ws::SLOTS + c * 64;
                unsafe {
                    copy::st_shared_u32(s, t);
                    copy::st_shared_u32(s + 4 * 6, ring);
                    mbarrier::arrive(smem + ws::TASK_FULL + 8 * c);
                }
            }
            given[c as usize] += 1;
            let ta = thread_rows(&Rows::gathered(smem + A_ROWS, 0, 128));
            match b {
                BSource::Rows(b, ldb) => {
                    let tb = thread_rows(&Rows::new(b.wrapping_add((n as u64 * 128 * ldb) as usize), ldb, 128));
                    for kt in 0..k_tiles {
                        unsafe { produce(smem, ring + kt, &ta, &tb, false, kt, deadline) };
                    }
                }
                BSource::Tma(map) => {
                    for kt in 0..k_tiles {
                        unsafe { produce_tma_b(smem, ring + kt, &ta, map, n * 128, kt, deadline) };
                    }
                }
            }
            ring += k_tiles;
            g.sync();
            mark(4 + 2 * i);
            t += grid_dim();
            i += 1;
        }
        for c in 0..2u32 {
            if given[c as usize] > 0 {
                unsafe { crate::gemm::mainloop::wait(smem + ws::TASK_FREE + 8 * c, (given[c as usize] - 1) & 1, deadline) };
            }
            if g.tid == 0 {
                unsafe {
                    copy::st_shared_u32(smem + ws::SLOTS + c * 64, u32::MAX);
                    mbarrier::arrive(smem + ws::TASK_FULL + 8 * c);
                }
            }
        }
        regs::acquire::<ENTRY_REGS>();
    } else {
        regs::acquire::<CONSUMER_REGS>();
        mark(2);
        let c = wg - 1;
        let g = Group::warpgroup(wg, smem + ws::WORDS + 16 * c);
        let staging = smem + ws::STAGING + c * ws::STAGING_BYTES;
        let mut taken = 0u32;
        loop {
            unsafe { crate::gemm::mainloop::wait(smem + ws::TASK_FULL + 8 * c, taken & 1, deadline) };
            g.sync();
            let s = smem + ws::SLOTS + c * 64;
            let (t, ring) = unsafe { (copy::ld_shared_u32(s), copy::ld_shared_u32(s + 4 * 6)) };
            if t == u32::MAX {
                break;
            }
            mark(3 + 2 * taken);
            let (m, n) = (t / n_tiles, t % n_tiles);
            let mut acc = zero_acc();
            unsafe { consume::<Bf16>(smem, ring, k_tiles, 128, &mut acc, deadline) };
            let dest = |r: u32| out.wrapping_add((((m * 128 + r) as u64) * ldo + n as u64 * 256) as usize);
            unsafe { epilogue::store::<Bf16>(&g, staging, &acc, false, 128, 128, |_, x, _| x, dest) };
            if g.tid == 0 {
                unsafe { mbarrier::arrive(smem + ws::TASK_FREE + 8 * c) };
            }
            mark(4 + 2 * taken);
            taken += 1;
        }
        regs::release::<ENTRY_REGS>();
    }
    sync::sync_block_or(false);
    mark(0xffff);
}
