//! Small kernels outside the MoE layer: the GPU smoke test, the copy used to measure local and
//! peer bandwidth, and the weight-read probe (`flashmoe info`).

use core::intrinsics::gpu::gpu_launch_sized_workgroup_mem;

use crate::entries::{READ_PROBE_STAGES, READ_PROBE_TILE_BYTES};
use crate::moe::SharedBase;
use crate::ptx::{copy, sync, time};
use crate::util::{block_dim, block_idx, grid_dim, thread_idx};

/// out[i] = a·x[i] + y[i] for i < n, and `stamp[0..2]` = %globaltimer before and after, written
/// with a release store: exercises loads, stores, the timer and the sync wrappers.
///
/// # Safety
/// `x`, `y`, `out` hold `n` f32; `stamp` holds 2 u64.
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn smoke_axpy(a: f32, x: *const f32, y: *const f32, out: *mut f32, n: u32, stamp: *mut u64) {
    let t0 = time::global_timer_ns();
    let stride = grid_dim() * block_dim();
    let mut i = block_idx() * block_dim() + thread_idx();
    while i < n {
        // SAFETY: i < n.
        unsafe { *out.add(i as usize) = a * *x.add(i as usize) + *y.add(i as usize) };
        i += stride;
    }
    if block_idx() == 0 && thread_idx() == 0 {
        // SAFETY: stamp holds two words.
        unsafe {
            sync::st_release_gpu_u64(stamp, t0);
            sync::st_release_gpu_u64(stamp.add(1), time::global_timer_ns());
        }
    }
}

/// Copies `n16` 16-byte vectors from `src` to `dst` (which may be a peer GPU's memory), grid-stride.
///
/// # Safety
/// Both buffers hold `n16 * 16` bytes, 16-byte aligned.
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn copy_v4(src: *const u8, dst: *mut u8, n16: u64) {
    let stride = (grid_dim() * block_dim()) as u64;
    let mut i = (block_idx() * block_dim() + thread_idx()) as u64;
    while i < n16 {
        // SAFETY: i < n16.
        unsafe { copy::st_v4(dst.add(i as usize * 16), copy::ld_nc_v4(src.add(i as usize * 16))) };
        i += stride;
    }
}

/// Streams weight panels into shared memory the way the decode mainloop does (128 threads, a
/// cp.async pipeline of `READ_PROBE_STAGES` tiles of 128 rows x 128 bytes), to measure what the
/// weights' layout costs in DRAM bandwidth: panel p starts at `src + p·panel_step`, its tile k at
/// `+ k·k_step`, row r of a tile at `+ r·row_stride`. Row-major weights (`[rows][K]`, as the
/// layer stores them): `row_stride` = K bytes, `k_step` = 128, so each tile is 128 pieces of 128
/// bytes, K bytes apart. Tile-packed weights: `row_stride` = 128, `k_step` = 16 KiB, so each tile
/// is one contiguous block. Each thread folds a word of every tile into `out[block·128 + thread]`.
///
/// # Safety
/// 128 threads, `READ_PROBE_STAGES · READ_PROBE_TILE_BYTES` dynamic shared bytes; every address
/// above is readable for `panels` panels of `k_tiles` tiles; `out` holds 128 words per block.
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn read_tiles(
    src: *const u8,
    panels: u32,
    k_tiles: u32,
    row_stride: u64,
    k_step: u64,
    panel_step: u64,
    out: *mut u32,
) {
    let smem = copy::smem_addr(gpu_launch_sized_workgroup_mem::<SharedBase>() as *const u8);
    let tid = thread_idx();
    let (row, chunk) = (tid / 8, tid % 8);
    let mut folded = 0u32;
    let mut p = block_idx();
    while p < panels {
        let panel = src.wrapping_add((p as u64 * panel_step) as usize);
        // This thread's 16 bytes of rows `row + 16 i` of tile k into stage s.
        let load = |k: u32, s: u32| {
            for i in 0..8u32 {
                let r = row + 16 * i;
                let from = panel.wrapping_add((k as u64 * k_step + r as u64 * row_stride) as usize + chunk as usize * 16);
                unsafe { copy::cp_async_16(smem + s * READ_PROBE_TILE_BYTES + r * 128 + chunk * 16, from) };
            }
        };
        for s in 0..READ_PROBE_STAGES - 1 {
            if s < k_tiles {
                load(s, s);
            }
            copy::cp_async_commit();
        }
        for k in 0..k_tiles {
            copy::cp_async_wait::<{ READ_PROBE_STAGES - 2 }>();
            sync::sync_threads();
            // The stage refilled here was read in the previous step, before the barrier.
            let next = k + READ_PROBE_STAGES - 1;
            if next < k_tiles {
                load(next, next % READ_PROBE_STAGES);
            }
            copy::cp_async_commit();
            folded ^= unsafe { copy::ld_shared_u32(smem + (k % READ_PROBE_STAGES) * READ_PROBE_TILE_BYTES + tid * 4) };
        }
        copy::cp_async_wait::<0>();
        sync::sync_threads();
        p += grid_dim();
    }
    // SAFETY: `out` holds 128 words per block.
    unsafe { *out.add((block_idx() * 128 + tid) as usize) = folded };
}

/// [`read_tiles`] fed the way a producer-fed decode ring would be: warp 0 issues each tile, as one
/// TMA box of 128 rows x 128 bytes from the 2D tensor map at `map` (the panels' rows, row-major)
/// or, when `map` is 0, as 128 one-row bulk copies (`cp.async.bulk`, 128 bytes each), completing
/// on the stage's full barrier; every warp waits on that barrier (no block barrier per tile) and
/// releases the stage with one arrival on its empty barrier, which warp 0 awaits before refilling
/// it. Waits give up after 1 s (the folded words then read `u32::MAX`).
///
/// # Safety
/// As [`read_tiles`], with `READ_PROBE_STAGES · (READ_PROBE_TILE_BYTES + 16)` dynamic shared
/// bytes; the addresses are 16-byte aligned; a `map` covers every panel's rows.
#[cfg(target_feature = "sm_90a")]
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn read_tiles_bulk(
    src: *const u8,
    panels: u32,
    k_tiles: u32,
    row_stride: u64,
    k_step: u64,
    panel_step: u64,
    out: *mut u32,
    map: u64,
) {
    use crate::ptx::{mbarrier, tma, warp};
    const STAGES: u32 = READ_PROBE_STAGES;
    let smem = copy::smem_addr(gpu_launch_sized_workgroup_mem::<SharedBase>() as *const u8);
    let (full, empty) = (smem + STAGES * READ_PROBE_TILE_BYTES, smem + STAGES * READ_PROBE_TILE_BYTES + 8 * STAGES);
    let (tid, lane, w) = (thread_idx(), thread_idx() % 32, thread_idx() / 32);
    if tid == 0 {
        for s in 0..STAGES {
            unsafe {
                mbarrier::init(full + 8 * s, 1);
                mbarrier::init(empty + 8 * s, 4);
            }
        }
        mbarrier::fence_init();
    }
    sync::sync_threads();
    // This block's tiles in order: tile j is K tile j % k_tiles of its (j / k_tiles)-th panel.
    let mine = if block_idx() < panels { (panels - block_idx()).div_ceil(grid_dim()) } else { 0 };
    let total = mine * k_tiles;
    let deadline = time::global_timer_ns() + 1_000_000_000;
    let wait = |bar: u32, parity: u32| loop {
        if unsafe { mbarrier::try_wait(bar, parity) } {
            return true;
        }
        if time::global_timer_ns() > deadline {
            return false;
        }
    };
    // Warp 0: tile j into stage j % STAGES, one box or four rows per lane.
    let produce = |j: u32| {
        let s = j % STAGES;
        let (p, k) = (block_idx() + (j / k_tiles) * grid_dim(), j % k_tiles);
        if lane == 0 {
            unsafe { mbarrier::arrive_expect_tx(full + 8 * s, READ_PROBE_TILE_BYTES) };
        }
        if map != 0 {
            if lane == 0 {
                unsafe { tma::load_2d(smem + s * READ_PROBE_TILE_BYTES, map, k * 64, p * 128, full + 8 * s) };
            }
            return;
        }
        let panel = src.wrapping_add((p as u64 * panel_step + k as u64 * k_step) as usize);
        warp::sync_warp();
        for i in 0..4u32 {
            let r = lane + 32 * i;
            unsafe {
                tma::load_1d(
                    smem + s * READ_PROBE_TILE_BYTES + r * 128,
                    panel.wrapping_add((r as u64 * row_stride) as usize),
                    128,
                    full + 8 * s,
                )
            };
        }
    };
    if w == 0 {
        for j in 0..STAGES.min(total) {
            produce(j);
        }
    }
    let mut folded = 0u32;
    let mut ok = true;
    for j in 0..total {
        let (s, parity) = (j % STAGES, (j / STAGES) & 1);
        ok &= wait(full + 8 * s, parity);
        folded ^= unsafe { copy::ld_shared_u32(smem + s * READ_PROBE_TILE_BYTES + tid * 4) };
        warp::sync_warp();
        if lane == 0 {
            unsafe { mbarrier::arrive(empty + 8 * s) };
        }
        if w == 0 && j + STAGES < total {
            ok &= wait(empty + 8 * s, parity);
            produce(j + STAGES);
        }
        if !ok {
            break;
        }
    }
    // SAFETY: `out` holds 128 words per block.
    unsafe { *out.add((block_idx() * 128 + tid) as usize) = if ok { folded } else { u32::MAX } };
}
