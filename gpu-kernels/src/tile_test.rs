//! A standalone GEMM-tile kernel: one block computes `out = A[rows]·Bᵀ` for one 128x128 tile with
//! the fused kernel's own mainloop and epilogue (whichever MMA path the element type selects), so
//! each path is checked against the CPU on odd shapes and gathered rows apart from the fused
//! kernel: a wrong fragment layout or swizzle shows up here as a wrong element, not as a bad
//! forward.

use core::intrinsics::gpu::gpu_launch_sized_workgroup_mem;

use crate::gemm::element::{Bf16, F32, Mma};
use crate::gemm::epilogue;
use crate::gemm::mainloop::{Rows, mainloop, zero_acc};
use crate::layout::GemmTileArgs;
use crate::moe::SharedBase;
use crate::ptx::{copy, sync};
use crate::smem::A_ROWS;
use crate::util::thread_idx;

/// One tile of `args` on the MMA path `E` selects (see [`GemmTileArgs`]).
#[inline(always)]
unsafe fn tile<E: Mma>(args: &GemmTileArgs) {
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
        mainloop::<E, true>(smem, &a_rows, &b_rows, args.k_bytes, &mut acc);
        epilogue::stage::<E>(smem, &acc);
        epilogue::emit::<E>(smem, false, n_rows, args.n_cols, |_, _, _| {}, dest);
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

/// The warp-specialized pipeline alone (sm_90a, 384 threads), without the MoE roles: the
/// forward's own mainloop (`WsLoop`'s produce / consume) and epilogue on tiles `blockIdx + i·gridDim` of
/// `out = A[rows]·Bᵀ`, 128x256 each. B (256 weight rows) comes by one TMA box per stage; A by TMA
/// from `a_map` when it is not 0, else by cp.async from the gathered rows `a + rows[r]·lda`.
/// Row tiles `[e·panel_tiles, (e + 1)·panel_tiles)` multiply B's panel `e` (rows
/// `e·n_tiles·256 ..`): the experts of an MoE layer, each with its own weights.
///
/// # Safety
/// 384 threads, `layout::WS_SHARED_BYTES` of dynamic shared memory; `b_map` a 2D map of B (boxes
/// of 256 rows x 64 bf16) with `ceil(m_tiles / panel_tiles)·n_tiles·256` rows; `a_map` (boxes of 128 rows x 64) or `rows`
/// with `m_tiles·128` entries; `out` holds `m_tiles·128` rows of `ldo` bytes.
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
    panel_tiles: u32,
    out: *mut u8,
    ldo: u64,
) {
    use crate::gemm::mainloop::{SplitLoop, TmaB, WsLoop, thread_rows};
    use crate::group::Group;
    use crate::layout::{TILE_K_BYTES, WS_TILE_N};
    use crate::os::ws::{self as wsos, CONSUMER_REGS, ENTRY_REGS, FULL_ARRIVALS, PRODUCER_REGS};
    use crate::ptx::{regs, time, tma};
    use crate::smem::{BROADCAST, ws};
    use crate::util::{block_idx, grid_dim};

    let base = gpu_launch_sized_workgroup_mem::<SharedBase>() as *mut u8;
    let smem = copy::smem_addr(base);
    let wg = thread_idx() / 128;
    let a_by_tma = a_map != 0;
    if thread_idx() == 0 {
        tma::prefetch_tensormap(b_map);
        unsafe { wsos::init(smem, FULL_ARRIVALS) };
    }
    sync::sync_block_or(false);
    // Bounded waits: a stuck pipeline ends the kernel with wrong outputs, never a hang.
    let deadline = time::global_timer_ns() + 2_000_000_000;
    let k_tiles = k_bytes / TILE_K_BYTES;
    let tiles = m_tiles * n_tiles;
    if wg == 0 {
        regs::release::<PRODUCER_REGS>();
        let g = Group::this(smem + BROADCAST);
        let ta = thread_rows(&Rows::gathered(smem + A_ROWS, 0, 128));
        let (mut ring, mut t) = (0u32, block_idx());
        while t < tiles {
            let (m, n) = (t / n_tiles, t % n_tiles);
            if !a_by_tma {
                let addr = a as u64 + unsafe { *rows.add((m * 128 + g.tid()) as usize) } as u64 * lda;
                unsafe { copy::st_shared_v2(smem + A_ROWS + g.tid() * 8, addr as u32, (addr >> 32) as u32) };
                g.sync();
            }
            let a_tma = if a_by_tma { Some((a_map, m * 128)) } else { None };
            let b = TmaB { maps: [b_map; 2], row0: (m / panel_tiles * n_tiles + n) * WS_TILE_N, gated: false };
            for kt in 0..k_tiles {
                unsafe { WsLoop::produce(smem, ring + kt, &ta, a_tma, &b, kt, deadline) };
            }
            ring += k_tiles;
            // The row table is read at issue: rewrite it only after every thread issued.
            g.sync();
            t += grid_dim();
        }
        regs::acquire::<ENTRY_REGS>();
    } else {
        regs::acquire::<CONSUMER_REGS>();
        let c = wg - 1;
        let g = Group::this(smem + ws::WORDS + 16 * c);
        let (mut ring, mut t) = (0u32, block_idx());
        while t < tiles {
            let (m, n) = (t / n_tiles, t % n_tiles);
            let mut acc = zero_acc();
            unsafe { WsLoop::consume::<Bf16>(smem, ring, k_tiles, c, &mut acc, deadline) };
            ring += k_tiles;
            let dest = |r: u32| out.wrapping_add(((m * 128 + r) as u64 * ldo + n as u64 * WS_TILE_N as u64 * 2) as usize);
            let staging = smem + ws::STAGING + c * crate::layout::WS_STAGING_BYTES;
            unsafe { epilogue::store::<Bf16>(&g, staging, &acc, c, false, 128, WS_TILE_N, |_, _, _| {}, dest) };
            t += grid_dim();
        }
        regs::release::<ENTRY_REGS>();
    }
    sync::sync_block_or(false);
}

/// The cluster features a multicast weight stage needs, alone (`entries::cluster_probe`): launch
/// in clusters of 2, `%cluster_ctarank`, a TMA box multicast to both blocks completing on each
/// block's own barrier, an arrival on the partner's barrier through distributed shared memory.
/// Every wait is bounded; `status` says what arrived.
///
/// # Safety
/// Clusters of 2 blocks of 128 threads, `cluster_probe::SHARED_BYTES` of dynamic shared memory;
/// `map` a 2D bf16 map of `ROWS` rows x 64 with boxes of `ROWS / 2` rows and 128-byte swizzle;
/// `out` holds `TILE_BYTES` per block, `status` a word per block.
#[cfg(target_feature = "sm_90a")]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn cluster_probe(map: u64, out: *mut u8, status: *mut u32) {
    use crate::entries::cluster_probe::{
        PARTNER_ARRIVED, ROWS, STEP_CLUSTER_MET, STEP_DONE, STEP_PARTNER_WAITED, STEP_STARTED, STEP_TILE_WAITED, TILE_BYTES, TILE_LANDED,
        TIMEOUT_NS,
    };
    use crate::ptx::{cluster, mbarrier, sync, time, tma};
    use crate::util::block_idx;

    let base = gpu_launch_sized_workgroup_mem::<SharedBase>() as *mut u8;
    let smem = copy::smem_addr(base);
    let (tile_full, partner_done) = (smem + TILE_BYTES, smem + TILE_BYTES + 8);
    let (tid, rank, block) = (thread_idx(), cluster::rank(), block_idx() as usize);
    let mut flags = rank;
    let step = |flags: u32, s: u32| {
        if tid == 0 {
            unsafe { sync::st_volatile_u32(status.add(block), flags | s << 16) };
        }
    };
    step(flags, STEP_STARTED);
    if tid == 0 {
        unsafe {
            mbarrier::init(tile_full, 1);
            mbarrier::init(partner_done, 1);
        }
        mbarrier::fence_init();
    }
    // Both blocks' barriers exist before either block's multicast can complete on them.
    cluster::sync();
    step(flags, STEP_CLUSTER_MET);
    let half = TILE_BYTES / 2;
    if tid == 0 {
        unsafe {
            mbarrier::arrive_expect_tx(tile_full, TILE_BYTES);
            tma::load_2d_multicast(smem + rank * half, map, 0, rank * (ROWS / 2), tile_full, 0b11);
        }
    }
    let deadline = time::global_timer_ns() + TIMEOUT_NS;
    let landed = unsafe { crate::gemm::mainloop::wait(tile_full, 0, deadline) };
    if landed {
        flags |= TILE_LANDED;
    }
    step(flags, STEP_TILE_WAITED);
    let mut i = tid;
    while i < TILE_BYTES / 16 {
        unsafe { copy::st_v4(out.add(block * TILE_BYTES as usize + 16 * i as usize), copy::ld_shared_v4(smem + 16 * i)) };
        i += 128;
    }
    if tid == 0 {
        unsafe { cluster::arrive_remote(cluster::map_shared(partner_done, rank ^ 1)) };
    }
    let mut arrived = false;
    while !arrived && time::global_timer_ns() < deadline + TIMEOUT_NS {
        arrived = unsafe { mbarrier::try_wait_cluster(partner_done, 0) };
    }
    if arrived {
        flags |= PARTNER_ARRIVED;
    }
    step(flags, STEP_PARTNER_WAITED);
    // Neither block leaves while its partner may still arrive on its barrier.
    cluster::sync();
    step(flags, STEP_DONE);
}
