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
use crate::ptx::{sync, time};
use crate::util::{block_idx, thread_idx};

/// `NVSHMEM_SIGNAL_SET` (`nvshmemi_amo_t`).
pub const SIGNAL_SET: i32 = 9;
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
    /// `void nvshmem_quiet(void)`: completes this thread's outstanding puts.
    pub fn nvshmem_quiet();
    /// `uint64_t nvshmem_signal_fetch(const uint64_t *sig_addr)`.
    pub fn nvshmem_signal_fetch(sig_addr: *const u64) -> u64;
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
