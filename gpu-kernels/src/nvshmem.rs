//! NVSHMEM's device API (3.4.5), for the `nvshmem` build only (feature `nvshmem`; host/build.rs
//! links NVSHMEM's `libnvshmem_device.bc` into it, shared/docs/nvshmem.md route A).
//!
//! The bitcode library defines every API function as an external `alwaysinline` function with its
//! unmangled C name, so the declarations below bind to it at `llvm-link` time and inline at `opt`.
//! C types: `int` → `i32`, `size_t` → `usize`, `uint64_t` → `u64`, pointers → generic pointers
//! (checked against the `define`s of the 3.4.5 bitcode: `i32 @nvshmem_my_pe()`,
//! `ptr @nvshmem_ptr(ptr, i32)`, `void @nvshmemx_putmem_signal_nbi_warp(ptr, ptr, i64, ptr, i64,
//! i32, i32)`, `void @nvshmem_quiet()`, `i64 @nvshmem_signal_fetch(ptr)`).
//!
//! `nvshmem_signal_wait_until` spins without a bound, so waits here poll `nvshmem_signal_fetch`
//! against a %globaltimer deadline instead (every GPU wait in this crate is bounded).

use core::ffi::c_void;

use crate::entries::nvshmem_probe as probe;
use crate::layout::MoeParams;
use crate::ptx::{sync, time};
use crate::util::{block_idx, thread_idx};

/// `NVSHMEM_SIGNAL_SET` and `NVSHMEM_SIGNAL_ADD` (`nvshmemx_signal_op_t`).
pub const SIGNAL_SET: i32 = 9;
pub const SIGNAL_ADD: i32 = 10;
/// `NVSHMEM_CMP_EQ`.
#[allow(dead_code)]
pub const CMP_EQ: i32 = 0;

unsafe extern "C" {
    /// `int nvshmem_my_pe(void)`.
    pub fn nvshmem_my_pe() -> i32;
    /// `int nvshmem_n_pes(void)`.
    pub fn nvshmem_n_pes() -> i32;
    /// `void *nvshmem_ptr(const void *ptr, int pe)`: `ptr` (symmetric) on PE `pe` as a load/store
    /// address, or null when `pe` is not reachable by P2P.
    pub fn nvshmem_ptr(ptr: *const c_void, pe: i32) -> *mut c_void;
    /// `void nvshmemx_putmem_signal_nbi_warp(void *dest, const void *source, size_t bytes,
    /// uint64_t *sig_addr, uint64_t signal, int sig_op, int pe)`: warp-collective (every lane,
    /// same arguments).
    pub fn nvshmemx_putmem_signal_nbi_warp(
        dest: *mut c_void,
        source: *const c_void,
        bytes: usize,
        sig_addr: *mut u64,
        signal: u64,
        sig_op: i32,
        pe: i32,
    );
    /// `void nvshmemx_putmem_nbi_warp(void *dest, const void *source, size_t bytes, int pe)`:
    /// warp-collective.
    pub fn nvshmemx_putmem_nbi_warp(dest: *mut c_void, source: *const c_void, bytes: usize, pe: i32);
    /// `void nvshmemx_signal_op(uint64_t *sig_addr, uint64_t signal, int sig_op, int pe)`.
    pub fn nvshmemx_signal_op(sig_addr: *mut u64, signal: u64, sig_op: i32, pe: i32);
    /// `void nvshmem_putmem_nbi(void *dest, const void *source, size_t bytes, int pe)`: one thread.
    pub fn nvshmem_putmem_nbi(dest: *mut c_void, source: *const c_void, bytes: usize, pe: i32);
    /// `void nvshmem_uint32_p(uint32_t *dest, uint32_t value, int pe)`.
    pub fn nvshmem_uint32_p(dest: *mut u32, value: u32, pe: i32);
    /// `void nvshmem_quiet(void)`: completes this thread's outstanding puts.
    pub fn nvshmem_quiet();
    /// `uint64_t nvshmem_signal_fetch(const uint64_t *sig_addr)`.
    pub fn nvshmem_signal_fetch(sig_addr: *const u64) -> u64;
}

// ---------------------------------------------------------------------------------------------
// The put transport (`MoeParams::put_peers`): a peer reached by puts has, as its `heaps` entry,
// this GPU's outbox for it, laid out like a heap. Every store the kernel makes "into that peer's
// heap" lands there; before the store's flag or counter, the bytes go to the same offsets of the
// peer's heap (this GPU's heap address is the symmetric one) and complete (`nvshmem_quiet`), and
// the flag or counter itself goes as an NVSHMEM signal. Within a node NVSHMEM copies by loads and
// stores; across nodes through its proxy. Each step is a function of its own: NVSHMEM's inlined
// API inside the warp-specialized consumers made their register allocation fail (C7600).
// ---------------------------------------------------------------------------------------------

/// The address on rank `r` of `addr`, a location in this GPU's outbox for `r`.
#[inline(always)]
fn symmetric(p: &MoeParams, r: u32, addr: u64) -> u64 {
    addr - p.heaps[r as usize] + p.heaps[p.rank as usize]
}

/// The rank whose outbox holds `addr`, when that rank is reached by puts.
#[inline(always)]
fn outbox_rank(p: &MoeParams, addr: u64) -> Option<u32> {
    let mut r = 0;
    while r < p.world {
        let base = p.heaps[r as usize];
        if p.puts_to(r) && addr >= base && addr < base + p.heap.bytes {
            return Some(r);
        }
        r += 1;
    }
    None
}

/// Bytes a warp hands NVSHMEM per call in [`put_warp`] and [`copy_put_rows`]: one 128-byte line
/// per lane, prefetched into L1 first. NVSHMEM's P2P put is a loop of one load and one volatile
/// store per lane with unrolling disabled, so each trip of 512 bytes a warp waits for its load;
/// from L2 that made the forced-put dispatch half as fast as the stores (perf log v16, v32).
const PUT_PIECE: u64 = 32 * 128;

/// Prefetches the lines of `[at, at + bytes)` (at most [`PUT_PIECE`]) into L1, one per lane.
#[inline(always)]
fn prefetch_piece(at: u64, bytes: u64) {
    let line = 128 * crate::ptx::warp::lane_id() as u64;
    if line < bytes {
        // SAFETY: a hint on an address inside the caller's range.
        unsafe { crate::ptx::copy::prefetch_l1((at + line) as *const u8) };
    }
}

/// One warp (every lane, same arguments): `bytes` from `addr` in the outbox for `r` to rank
/// `r`'s heap, a piece per call with the next piece's lines prefetched meanwhile, then complete
/// this warp's puts.
///
/// # Safety
/// `[addr, addr + bytes)` lies in the outbox for `r`, which is reached by puts.
#[inline(never)]
pub unsafe fn put_warp(p: &MoeParams, r: u32, addr: u64, bytes: u64) {
    let (dst, end) = (symmetric(p, r, addr), addr + bytes);
    prefetch_piece(addr, bytes.min(PUT_PIECE));
    let mut at = addr;
    while at < end {
        let n = (end - at).min(PUT_PIECE);
        prefetch_piece(at + n, (end - at - n).min(PUT_PIECE));
        // SAFETY: the caller's contract; the outbox and the heap are NVSHMEM's symmetric memory.
        unsafe { nvshmemx_putmem_nbi_warp((dst + (at - addr)) as *mut c_void, at as *const c_void, n as usize, r as i32) };
        at += n;
    }
    // SAFETY: no arguments.
    unsafe { nvshmem_quiet() };
}

/// One warp (every lane, same arguments): rows `[first, end)` of a dispatch tile copied from the
/// input (row i is token `meta_token` of the meta word at shared `list + 4 i`) into the outbox
/// for `r` (row i at `rows + i · row_bytes`) and put from there to rank `r`, a piece
/// ([`PUT_PIECE`]) at a time: the piece's stores, its lines prefetched, the next piece's loads
/// issued, then its put, so the put starts with the first piece instead of after the tile and the
/// next loads fly under it. Then this warp's puts complete.
///
/// # Safety
/// The list holds `end` meta words of tokens of the input; the rows lie in the outbox for `r`.
#[inline(never)]
pub unsafe fn copy_put_rows(p: &MoeParams, r: u32, list: u32, first: u32, end: u32, rows: u64, row_bytes: u32) {
    let lane = crate::ptx::warp::lane_id();
    let (row_bytes, dst0) = (row_bytes as u64, symmetric(p, r, rows));
    // Piece (i, o): row i from byte o; at most PUT_PIECE bytes, 8 vectors a lane.
    let load = |i: u32, o: u64| {
        // SAFETY: i < end (the caller's list).
        let token = crate::layout::meta_token(unsafe { crate::ptx::copy::ld_shared_u32(list + 4 * i) });
        let (src, n) = (p.x + token as u64 * row_bytes + o, (row_bytes - o).min(PUT_PIECE));
        let mut buf = [[0u32; 4]; 8];
        unroll!(8, j, {
            let at = 16 * (lane as u64 + 32 * j as u64);
            if at < n {
                // SAFETY: inside the token's row of the input.
                buf[j] = unsafe { crate::ptx::copy::ld_nc_v4((src + at) as *const u8) };
            }
        });
        buf
    };
    let next = |i: u32, o: u64| if o + PUT_PIECE < row_bytes { (i, o + PUT_PIECE) } else { (i + 1, 0) };
    let (mut i, mut o) = (first, 0u64);
    let mut buf = if i < end { load(i, o) } else { [[0; 4]; 8] };
    while i < end {
        let (at, n) = (rows + i as u64 * row_bytes + o, (row_bytes - o).min(PUT_PIECE));
        unroll!(8, j, {
            let v = 16 * (lane as u64 + 32 * j as u64);
            if v < n {
                // SAFETY: the row lies in the outbox (the caller's contract).
                unsafe { crate::ptx::copy::st_v4((at + v) as *mut u8, buf[j]) };
            }
        });
        // The other lanes' stores before the put's loads.
        crate::ptx::warp::sync_warp();
        prefetch_piece(at, n);
        let (ni, no) = next(i, o);
        if ni < end {
            buf = load(ni, no);
        }
        // SAFETY: the caller's contract; the outbox and the heap are NVSHMEM's symmetric memory.
        unsafe { nvshmemx_putmem_nbi_warp((dst0 + (at - rows)) as *mut c_void, at as *const c_void, n as usize, r as i32) };
        (i, o) = (ni, no);
    }
    // SAFETY: no arguments.
    unsafe { nvshmem_quiet() };
}

/// Rows `[first, end)` of a row table (`ffn::row` addresses) whose outbox belongs to a peer
/// reached by puts: `bytes` from each row's address, one row per thread (`thread` of `threads`
/// takes every `threads`-th row: the rows' puts run side by side, where a warp per row waited
/// for each in turn); then this thread's puts complete. Every thread of the group; a barrier
/// after it orders them before the signal that announces the rows.
///
/// # Safety
/// The table holds `end` rows, each with `bytes` written at its address.
#[inline(never)]
pub unsafe fn put_rows(p: &MoeParams, table: u32, first: u32, end: u32, bytes: u32, thread: u32, threads: u32) {
    let mut r = first + thread;
    while r < end {
        // SAFETY: r < end rows of the table.
        let addr = unsafe { crate::ffn::row(table, r) };
        if let Some(rank) = outbox_rank(p, addr) {
            // SAFETY: the caller's contract (the row's bytes lie in that outbox).
            unsafe { nvshmem_putmem_nbi(symmetric(p, rank, addr) as *mut c_void, addr as *const c_void, bytes as usize, rank as i32) };
        }
        r += threads;
    }
    // SAFETY: no arguments.
    unsafe { nvshmem_quiet() };
}

/// The u64 signal `word` (in the outbox for `r`) set to `value` on rank `r`, after this thread's
/// completed puts.
///
/// # Safety
/// `word` lies in the outbox for `r`, reached by puts.
#[inline(never)]
pub unsafe fn signal_set(p: &MoeParams, r: u32, word: *mut u64, value: u64) {
    // SAFETY: the caller's contract.
    unsafe { nvshmemx_signal_op(symmetric(p, r, word as u64) as *mut u64, value, SIGNAL_SET, r as i32) };
}

/// `value` added to the u64 signal `word` (in the outbox for `r`) on rank `r`.
///
/// # Safety
/// As [`signal_set`].
#[inline(never)]
pub unsafe fn signal_add(p: &MoeParams, r: u32, word: *mut u64, value: u64) {
    // SAFETY: the caller's contract.
    unsafe { nvshmemx_signal_op(symmetric(p, r, word as u64) as *mut u64, value, SIGNAL_ADD, r as i32) };
}

/// The u32 at `word` (in the outbox for `r`) set to `value` on rank `r`, and completed.
///
/// # Safety
/// As [`signal_set`].
#[inline(never)]
pub unsafe fn store_u32(p: &MoeParams, r: u32, word: *mut u32, value: u32) {
    // SAFETY: the caller's contract.
    unsafe {
        nvshmem_uint32_p(symmetric(p, r, word as u64) as *mut u32, value, r as i32);
        nvshmem_quiet();
    }
}

/// Polls the signal word `sig` until it equals `value` or `timeout_ns` pass; returns whether it
/// did, and the last value read.
///
/// # Safety
/// `sig` is a symmetric u64 of this PE.
#[inline(always)]
pub unsafe fn signal_wait_eq(sig: *const u64, value: u64, timeout_ns: u64) -> (bool, u64) {
    let deadline = time::global_timer_ns().wrapping_add(timeout_ns);
    loop {
        // SAFETY: the caller's contract.
        let v = unsafe { nvshmem_signal_fetch(sig) };
        if v == value {
            sync::fence_acq_rel_sys();
            return (true, v);
        }
        if time::global_timer_ns() >= deadline {
            return (false, v);
        }
        time::nanosleep(100);
    }
}

/// The build's NVSHMEM smoke test (one block of one warp; see [`probe`] for `out`): my PE, the
/// number of PEs, whether `nvshmem_ptr` reaches `buf` on this PE, then a warp-scoped
/// `putmem_signal_nbi` of `bytes` from `buf` to `buf + bytes` on this PE with `signal` set to 1,
/// `nvshmem_quiet`, a bounded wait for the signal, and a byte compare of the two halves.
///
/// # Safety
/// `buf` (2·`bytes`) and `signal` (one u64, 0 at launch) come from `nvshmem_malloc`; `out` holds
/// [`probe::WORDS`] u32. The module was registered with `nvshmemx_cumodule_init`.
#[unsafe(no_mangle)]
pub unsafe extern "gpu-kernel" fn nvshmem_probe(out: *mut u32, buf: *mut u8, bytes: u64, signal: *mut u64) {
    if block_idx() != 0 || thread_idx() >= 32 {
        return;
    }
    let lane = thread_idx();
    // SAFETY: NVSHMEM is initialised and this module registered (the kernel's contract).
    let (me, npes) = unsafe { (nvshmem_my_pe(), nvshmem_n_pes()) };
    // SAFETY: buf is symmetric.
    let reachable = unsafe { !nvshmem_ptr(buf as *const c_void, me).is_null() };
    let t0 = time::global_timer_ns();
    // SAFETY: every lane of the warp calls it with the same arguments; both halves lie in buf.
    unsafe {
        nvshmemx_putmem_signal_nbi_warp(
            buf.add(bytes as usize) as *mut c_void,
            buf as *const c_void,
            bytes as usize,
            signal,
            1,
            SIGNAL_SET,
            me,
        );
        nvshmem_quiet();
    }
    if lane != 0 {
        return;
    }
    // SAFETY: signal is symmetric.
    let (arrived, last) = unsafe { signal_wait_eq(signal, 1, probe::TIMEOUT_NS) };
    let waited = time::global_timer_ns().wrapping_sub(t0);
    let mut mismatched = 0u32;
    if arrived {
        for i in 0..bytes as usize {
            // SAFETY: i < bytes; both halves are in buf.
            mismatched += unsafe { (*buf.add(i) != *buf.add(bytes as usize + i)) as u32 };
        }
    }
    let words = [me as u32, npes as u32, reachable as u32, arrived as u32, last as u32, mismatched, waited.min(u32::MAX as u64) as u32];
    for (i, w) in words.into_iter().enumerate() {
        // SAFETY: out holds probe::WORDS words.
        unsafe { sync::st_volatile_u32(out.add(i), w) };
    }
    sync::fence_acq_rel_sys();
    // SAFETY: as above; the last word says the rest is written.
    unsafe { sync::st_volatile_u32(out.add(probe::DONE), probe::DONE_MAGIC) };
}
