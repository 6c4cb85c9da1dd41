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
/// `b_map` (global memory; 128-byte swizzle, boxes of `WEIGHT_BOX_ROWS` x `WEIGHT_BOX_COLS`), A still by cp.async.
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
    use crate::gemm::mainloop::{TmaB, consume, produce, produce_tma_b, thread_rows};
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
                        unsafe { produce_tma_b(smem, ring + kt, &ta, &TmaB { maps: [map; 2], row0: n * 128, gated: false }, kt, deadline) };
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

/// A 128x256 tile per block: the producer warpgroup streams B (256 weight rows) by one TMA box
/// per stage and A (128 rows) by TMA from `a_map` when it is not 0, else by cp.async from the
/// gathered rows `a + rows[r]·lda`; consumer warpgroup c (1, 2) runs wgmma m64n256k16 on A rows
/// `64 (c - 1) ..` of every stage, keeping one stage of wgmmas in flight, and stores its 64x256
/// bf16 outputs straight from registers. Tiles `blockIdx + i·gridDim` of `m_tiles` x `n_tiles`.
/// The shape the fastest sm_90 GEMMs use (CUTLASS's cooperative kernel, DeepGEMM): per stage,
/// 48 KiB of operands for 4.2 MFLOP, against 32 KiB for 2.1 MFLOP in the 128x128 tile.
///
/// # Safety
/// 384 threads, [`crate::layout::ws256::SHARED_BYTES`] of dynamic shared memory; `b_map` a 2D map of B (boxes of
/// 256 rows x 64 bf16) with `n_tiles·256` rows; `a_map` (boxes of 128 rows x 64) or `rows` with
/// `m_tiles·128` entries; `out` holds `m_tiles·128` rows of `ldo` bytes.
#[cfg(target_feature = "sm_90a")]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn ws256_tile_gemm_bf16(
    a: *const u8,
    rows: *const u32,
    lda: u64,
    a_map: u64,
    b_map: u64,
    k_bytes: u32,
    m_tiles: u32,
    n_tiles: u32,
    out: *mut u8,
    ldo: u64,
) {
    use crate::gemm::mainloop::{load_operand, thread_rows, wait};
    use crate::group::Group;
    use crate::layout::TILE_K_BYTES;
    use crate::os::ws::{CONSUMER_REGS, ENTRY_REGS, PRODUCER_REGS};
    use crate::ptx::wgmma::{descriptor_sw128, fence_proxy_async_shared, mma_bf16_m64n256_x4_async, wait_group0_acc128, wait_group1_acc128};
    use crate::ptx::{math, mbarrier, regs, time, tma};
    use crate::util::{block_idx, grid_dim};
    use crate::layout::ws256::*;

    let base = gpu_launch_sized_workgroup_mem::<SharedBase>() as *mut u8;
    let smem = copy::smem_addr(base);
    let wg = thread_idx() / 128;
    let a_by_tma = a_map != 0;
    if thread_idx() == 0 {
        tma::prefetch_tensormap(b_map);
        for s in 0..STAGES {
            unsafe {
                // The TMA issuer's expect_tx, plus one cp.async arrival per producer thread.
                mbarrier::init(smem + FULL + 8 * s, if a_by_tma { 1 } else { 129 });
                mbarrier::init(smem + EMPTY + 8 * s, 256);
            }
        }
        mbarrier::fence_init();
    }
    sync::sync_block_or(false);
    // Bounded waits: a stuck pipeline ends the kernel with wrong outputs, never a hang.
    let deadline = time::global_timer_ns() + 2_000_000_000;
    let k_tiles = k_bytes / TILE_K_BYTES;
    let tiles = m_tiles * n_tiles;
    if wg == 0 {
        regs::release::<PRODUCER_REGS>();
        let g = Group::warpgroup(0, smem + WORDS);
        let ta = thread_rows(&Rows::gathered(smem + ROWS, 0, 128));
        let (mut it, mut t) = (0u32, block_idx());
        while t < tiles {
            let (m, n) = (t / n_tiles, t % n_tiles);
            if !a_by_tma {
                let addr = a as u64 + unsafe { *rows.add((m * 128 + g.tid) as usize) } as u64 * lda;
                unsafe { copy::st_shared_v2(smem + ROWS + g.tid * 8, addr as u32, (addr >> 32) as u32) };
                g.sync();
            }
            for kt in 0..k_tiles {
                let s = it % STAGES;
                unsafe { wait(smem + EMPTY + 8 * s, ((it / STAGES) & 1) ^ 1, deadline) };
                let (stage, full) = (smem + s * STAGE_BYTES, smem + FULL + 8 * s);
                unsafe {
                    if g.tid == 0 {
                        mbarrier::arrive_expect_tx(full, B_BYTES + if a_by_tma { A_BYTES } else { 0 });
                        tma::load_2d(stage + A_BYTES, b_map, kt * (TILE_K_BYTES / 2), n * 256, full);
                        if a_by_tma {
                            tma::load_2d(stage, a_map, kt * (TILE_K_BYTES / 2), m * 128, full);
                        }
                    }
                    if !a_by_tma {
                        load_operand(stage, &ta, false, kt * TILE_K_BYTES);
                        mbarrier::arrive_on_copies(full);
                    }
                }
                it += 1;
            }
            // The row table is read at issue: rewrite it only after every thread issued.
            g.sync();
            t += grid_dim();
        }
        regs::acquire::<ENTRY_REGS>();
    } else {
        regs::acquire::<CONSUMER_REGS>();
        let c = wg - 1;
        let tid = thread_idx() % 128;
        let (warp, lane) = (tid / 32, tid % 32);
        let (mut it, mut t) = (0u32, block_idx());
        while t < tiles {
            let (m, n) = (t / n_tiles, t % n_tiles);
            let mut acc = zero_acc();
            for kt in 0..k_tiles {
                let s = it % STAGES;
                unsafe { wait(smem + FULL + 8 * s, (it / STAGES) & 1, deadline) };
                fence_proxy_async_shared();
                let stage = smem + s * STAGE_BYTES;
                let (sa, sb) = (stage + c * 64 * TILE_K_BYTES, stage + A_BYTES);
                let steps = |at: u32| [descriptor_sw128(at), descriptor_sw128(at + 32), descriptor_sw128(at + 64), descriptor_sw128(at + 96)];
                unsafe {
                    mma_bf16_m64n256_x4_async(&mut acc, steps(sa), steps(sb));
                    wait_group1_acc128(&mut acc);
                    // The previous stage's wgmmas completed: release it.
                    if kt > 0 {
                        mbarrier::arrive(smem + EMPTY + 8 * ((it - 1) % STAGES));
                    }
                }
                it += 1;
            }
            unsafe {
                wait_group0_acc128(&mut acc);
                if k_tiles > 0 {
                    mbarrier::arrive(smem + EMPTY + 8 * ((it - 1) % STAGES));
                }
            }
            // acc[j / 8][j % 8][q]: row 16 warp + lane / 4 (+ 8 for q >= 2), column 8 j + 2 (lane % 4) (+ 1).
            let row0 = m * 128 + c * 64 + warp * 16 + lane / 4;
            unroll!(4, i, {
                unroll!(8, j, {
                    let v = &acc[i][j];
                    let col = n * 256 + 8 * (8 * i as u32 + j as u32) + 2 * (lane % 4);
                    unroll!(2, h, {
                        let at = out.wrapping_add(((row0 + 8 * h as u32) as u64 * ldo + col as u64 * 2) as usize) as *mut u32;
                        unsafe { at.write(math::pack_bf16x2(v[2 * h], v[2 * h + 1])) };
                    });
                });
            });
            t += grid_dim();
        }
        regs::release::<ENTRY_REGS>();
    }
    sync::sync_block_or(false);
}
