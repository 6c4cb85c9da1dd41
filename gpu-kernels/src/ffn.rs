//! Expert FFN tile tasks. GEMM0: one output tile of act(rows·W1ᵀ + b1) [* (rows·W3ᵀ + b3)] into
//! the local staging rows. GEMM1: one output tile of staging·W2ᵀ + b2, each row stored straight
//! into its token's slot `[token][j]` on the token's home GPU. The block finishing the last tile
//! of a row tile publishes the next step: GEMM1 tasks, or the return flag on the home GPU.

use crate::gemm::activation;
use crate::gemm::element::Element;
use crate::gemm::epilogue;
use crate::gemm::mainloop::{Rows, mainloop, zero_acc};
use crate::layout::{MoeParams, TILE_M, TILE_N, Task, flag_word, gemm0_tile_cols, gemm0_tiles, gemm1_tiles, row_tiles, task_kind};
use crate::os::queue::Queue;
use crate::ptx::{copy, sync};
use crate::smem::BROADCAST;
use crate::util::thread_idx;

/// Index of (pair, row tile) among all row tiles (completion counters, return flags).
#[inline(always)]
fn row_tile_index(p: &MoeParams, pair: u32, tile: u32) -> usize {
    (pair * row_tiles(p.capacity) + tile) as usize
}

/// GEMM0 task.
///
/// # Safety
/// All threads of a processor block, for a published task.
pub unsafe fn gemm0<E: Element>(p: &MoeParams, smem: u32, q: &Queue, t: &Task) {
    let local = t.pair % p.local_experts;
    let (row_bytes, inter_bytes) = ((p.hidden * E::BYTES) as u64, (p.inter * E::BYTES) as u64);
    let slot0 = t.pair as u64 * p.capacity as u64 + (t.row_tile * TILE_M) as u64;
    let heap = p.heaps[p.rank as usize];
    let gated = p.gated();
    let col0 = t.n_tile * gemm0_tile_cols(gated);
    let w_row0 = (local * p.inter + col0) as u64 * row_bytes;
    let a = Rows::new((heap + p.heap.dispatch_rows + slot0 * row_bytes) as *const u8, row_bytes, t.rows);
    let b = if gated {
        Rows { base: (p.w1 + w_row0) as *const u8, gate_rows: (p.w3 + w_row0) as *const u8, stride: row_bytes, valid: TILE_N }
    } else {
        Rows::new((p.w1 + w_row0) as *const u8, row_bytes, (p.inter - col0).min(TILE_N))
    };
    let mut acc = zero_acc();
    unsafe { mainloop::<E>(smem, &a, &b, row_bytes as u32, &mut acc) };

    let (b1, b3) = ((p.b1 + (local * p.inter * E::BYTES) as u64) as *const u8, (p.b3 + (local * p.inter * E::BYTES) as u64) as *const u8);
    let (bias, act) = (p.has_bias(), p.activation);
    let value = |c: u32, x: f32, g: f32| {
        let col = col0 + c;
        let h = if bias { x + unsafe { E::load(b1, col) } } else { x };
        let v = activation::apply(act, h);
        if gated { v * if bias { g + unsafe { E::load(b3, col) } } else { g } } else { v }
    };
    let staging = p.workspace + p.ws.staging + col0 as u64 * E::BYTES as u64;
    let dest = |row: u32| (staging + (slot0 + row as u64) * inter_bytes) as *mut u8;
    let cols = if gated { TILE_N / 2 } else { (p.inter - col0).min(TILE_N) };
    unsafe {
        epilogue::stage::<E>(smem, &acc);
        epilogue::emit::<E>(smem, gated, t.rows, cols, value, dest);
    }

    // The block that finishes the row tile's last GEMM0 tile publishes its GEMM1 tasks.
    let tid = thread_idx();
    let n1 = gemm1_tiles(p.hidden);
    if tid == 0 {
        let done = (p.workspace + p.ws.gemm0_done) as *mut u32;
        sync::fence_acq_rel_gpu();
        let last = unsafe { sync::atom_add_acq_rel_gpu_u32(done.add(row_tile_index(p, t.pair, t.row_tile)), 1) }
            == gemm0_tiles(p.inter, gated) - 1;
        let first = if last { unsafe { q.reserve(n1) } } else { 0 };
        unsafe {
            copy::st_shared_u32(smem + BROADCAST, last as u32);
            copy::st_shared_u32(smem + BROADCAST + 4, first);
        }
    }
    sync::sync_threads();
    let (last, first) = unsafe { (copy::ld_shared_u32(smem + BROADCAST) != 0, copy::ld_shared_u32(smem + BROADCAST + 4)) };
    if last {
        let mut n = tid;
        while n < n1 {
            unsafe { q.publish(first + n, task_kind::GEMM1, t.pair, t.row_tile, n, t.rows) };
            n += TILE_M;
        }
    }
    sync::sync_threads();
    if last && tid == 0 {
        unsafe { sync::red_add_release_gpu_u32(&raw mut (*crate::fault::control(p)).gemm1_rows_published, 1) };
    }
}

/// GEMM1 task.
///
/// # Safety
/// All threads of a processor block, for a published task.
pub unsafe fn gemm1<E: Element>(p: &MoeParams, smem: u32, t: &Task) {
    let local = t.pair % p.local_experts;
    let src = t.pair / p.local_experts;
    let (row_bytes, inter_bytes) = ((p.hidden * E::BYTES) as u64, (p.inter * E::BYTES) as u64);
    let slot0 = t.pair as u64 * p.capacity as u64 + (t.row_tile * TILE_M) as u64;
    let col0 = t.n_tile * TILE_N;
    let a = Rows::new((p.workspace + p.ws.staging + slot0 * inter_bytes) as *const u8, inter_bytes, t.rows);
    let cols = (p.hidden - col0).min(TILE_N);
    let b = Rows::new((p.w2 + (local * p.hidden + col0) as u64 * inter_bytes) as *const u8, inter_bytes, cols);
    let mut acc = zero_acc();
    unsafe { mainloop::<E>(smem, &a, &b, inter_bytes as u32, &mut acc) };

    let b2 = (p.b2 + ((local * p.hidden + col0) * E::BYTES) as u64) as *const u8;
    let bias = p.has_bias();
    let value = |c: u32, x: f32, _: f32| if bias { x + unsafe { E::load(b2, c) } } else { x };
    let meta = (p.heaps[p.rank as usize] + p.heap.dispatch_meta + slot0 * 4) as *const u32;
    let slots = p.heaps[src as usize] + p.heap.combine_slots + col0 as u64 * E::BYTES as u64;
    let k = p.top_k as u64;
    let dest = |row: u32| {
        let m = unsafe { sync::ld_relaxed_gpu_u32(meta.add(row as usize)) };
        let (token, j) = ((m & 0x00ff_ffff) as u64, (m >> 24) as u64);
        (slots + (token * k + j) * row_bytes) as *mut u8
    };
    unsafe {
        epilogue::stage::<E>(smem, &acc);
        epilogue::emit::<E>(smem, false, t.rows, cols, value, dest);
    }

    // The block that finishes the row tile's last GEMM1 tile tells the home GPU.
    if thread_idx() == 0 {
        let done = (p.workspace + p.ws.gemm1_done) as *mut u32;
        sync::fence_acq_rel_sys();
        if unsafe { sync::atom_add_acq_rel_gpu_u32(done.add(row_tile_index(p, t.pair, t.row_tile)), 1) } == gemm1_tiles(p.hidden) - 1 {
            let expert = p.rank * p.local_experts + local;
            let flag = (p.heaps[src as usize] + p.heap.return_flags) as *mut u64;
            sync::fence_acq_rel_sys();
            unsafe { sync::st_release_sys_u64(flag.add(row_tile_index(p, expert, t.row_tile)), flag_word(p.epoch, 1)) };
        }
    }
}
