//! Clocks and back-off.

use core::arch::asm;

/// `mov.u64 %globaltimer`: nanoseconds, the same clock on every block of the GPU. It ticks in
/// steps of about a microsecond, fine enough for deadlines of milliseconds and more.
#[inline(always)]
pub fn global_timer_ns() -> u64 {
    let t: u64;
    unsafe { asm!("mov.u64 {t}, %globaltimer;", t = out(reg64) t) };
    t
}

/// `nanosleep.u32`: yields the issue slot to other warps while polling.
#[inline(always)]
pub fn nanosleep(ns: u32) {
    unsafe { asm!("nanosleep.u32 {n};", n = in(reg32) ns) };
}
