//! Memory ordering: scoped acquire loads, release stores, fences, atomics and CTA barriers.
//!
//! Scope names follow PTX: `cta` (the block), `gpu` (every block of this device), `sys` (peers and
//! the host). A flag that another GPU reads must be written at `sys` scope; one read only by blocks
//! of this GPU needs `gpu`. Every wrapper names the PTX it emits.
// Valid on sm_80 too; the named and warpgroup barriers are used only by the Hopper engines.
#![cfg_attr(not(target_feature = "sm_90a"), allow(dead_code))]

use core::arch::asm;

/// `ld.acquire.gpu.global.u32`: later loads of this thread see what the releasing writer published.
#[inline(always)]
pub unsafe fn ld_acquire_gpu_u32(p: *const u32) -> u32 {
    let v: u32;
    unsafe { asm!("ld.acquire.gpu.global.u32 {v}, [{p}];", v = out(reg32) v, p = in(reg64) p) };
    v
}

/// `ld.acquire.sys.global.u64`: for flags written by a peer GPU.
#[inline(always)]
pub unsafe fn ld_acquire_sys_u64(p: *const u64) -> u64 {
    let v: u64;
    unsafe { asm!("ld.acquire.sys.global.u64 {v}, [{p}];", v = out(reg64) v, p = in(reg64) p) };
    v
}

/// `ld.relaxed.gpu.global.u32`: a coherent read with no ordering (polling, then an explicit fence).
#[inline(always)]
pub unsafe fn ld_relaxed_gpu_u32(p: *const u32) -> u32 {
    let v: u32;
    unsafe { asm!("ld.relaxed.gpu.global.u32 {v}, [{p}];", v = out(reg32) v, p = in(reg64) p) };
    v
}

/// `st.release.gpu.global.u32`: publishes every earlier write of this thread to the GPU.
#[inline(always)]
pub unsafe fn st_release_gpu_u32(p: *mut u32, v: u32) {
    unsafe { asm!("st.release.gpu.global.u32 [{p}], {v};", p = in(reg64) p, v = in(reg32) v) };
}

/// `st.release.gpu.global.u64`.
#[inline(always)]
pub unsafe fn st_release_gpu_u64(p: *mut u64, v: u64) {
    unsafe { asm!("st.release.gpu.global.u64 [{p}], {v};", p = in(reg64) p, v = in(reg64) v) };
}

/// `st.release.sys.global.u64`: publishes earlier writes to peers and the host (NVLink flags).
#[inline(always)]
pub unsafe fn st_release_sys_u64(p: *mut u64, v: u64) {
    unsafe { asm!("st.release.sys.global.u64 [{p}], {v};", p = in(reg64) p, v = in(reg64) v) };
}

/// `st.relaxed.gpu.global.u32`.
#[inline(always)]
pub unsafe fn st_relaxed_gpu_u32(p: *mut u32, v: u32) {
    unsafe { asm!("st.relaxed.gpu.global.u32 [{p}], {v};", p = in(reg64) p, v = in(reg32) v) };
}

/// `st.relaxed.gpu.global.v4.u32` (16-byte aligned `p`).
#[inline(always)]
pub unsafe fn st_relaxed_gpu_v4_u32(p: *mut u32, v: [u32; 4]) {
    unsafe {
        asm!("st.relaxed.gpu.global.v4.u32 [{p}], {{{a}, {b}, {c}, {d}}};",
            p = in(reg64) p, a = in(reg32) v[0], b = in(reg32) v[1], c = in(reg32) v[2], d = in(reg32) v[3])
    };
}

/// `st.relaxed.gpu.global.v2.u32` (8-byte aligned `p`).
#[inline(always)]
pub unsafe fn st_relaxed_gpu_v2_u32(p: *mut u32, v: [u32; 2]) {
    unsafe { asm!("st.relaxed.gpu.global.v2.u32 [{p}], {{{a}, {b}}};", p = in(reg64) p, a = in(reg32) v[0], b = in(reg32) v[1]) };
}

/// `st.volatile.global.u32`: a store the compiler may not elide (host-mapped error records).
#[inline(always)]
pub unsafe fn st_volatile_u32(p: *mut u32, v: u32) {
    unsafe { asm!("st.volatile.global.u32 [{p}], {v};", p = in(reg64) p, v = in(reg32) v) };
}

/// `st.volatile.global.u64`.
#[inline(always)]
pub unsafe fn st_volatile_u64(p: *mut u64, v: u64) {
    unsafe { asm!("st.volatile.global.u64 [{p}], {v};", p = in(reg64) p, v = in(reg64) v) };
}

/// `fence.acq_rel.gpu`: orders this thread's earlier accesses before later ones for the whole GPU.
#[inline(always)]
pub fn fence_acq_rel_gpu() {
    unsafe { asm!("fence.acq_rel.gpu;") };
}

/// `fence.acq_rel.sys`: the same for peers and the host; needed before signalling a peer.
#[inline(always)]
pub fn fence_acq_rel_sys() {
    unsafe { asm!("fence.acq_rel.sys;") };
}

/// `fence.sc.sys`.
#[inline(always)]
pub fn fence_sc_sys() {
    unsafe { asm!("fence.sc.sys;") };
}

/// `atom.acq_rel.gpu.global.add.u32`: returns the old value.
#[inline(always)]
pub unsafe fn atom_add_acq_rel_gpu_u32(p: *mut u32, v: u32) -> u32 {
    let old: u32;
    unsafe { asm!("atom.acq_rel.gpu.global.add.u32 {o}, [{p}], {v};", o = out(reg32) old, p = in(reg64) p, v = in(reg32) v) };
    old
}

/// `atom.acq_rel.gpu.global.add.u64`: returns the old value.
#[inline(always)]
pub unsafe fn atom_add_acq_rel_gpu_u64(p: *mut u64, v: u64) -> u64 {
    let old: u64;
    unsafe { asm!("atom.acq_rel.gpu.global.add.u64 {o}, [{p}], {v};", o = out(reg64) old, p = in(reg64) p, v = in(reg64) v) };
    old
}

/// `red.relaxed.gpu.global.max.u64`: raises the word to at least `v`, without waiting.
#[inline(always)]
pub unsafe fn red_max_relaxed_gpu_u64(p: *mut u64, v: u64) {
    unsafe { asm!("red.relaxed.gpu.global.max.u64 [{p}], {v};", p = in(reg64) p, v = in(reg64) v) };
}

/// `atom.relaxed.gpu.global.add.u32`: ticket counters where ordering comes from elsewhere.
#[inline(always)]
pub unsafe fn atom_add_relaxed_gpu_u32(p: *mut u32, v: u32) -> u32 {
    let old: u32;
    unsafe { asm!("atom.relaxed.gpu.global.add.u32 {o}, [{p}], {v};", o = out(reg32) old, p = in(reg64) p, v = in(reg32) v) };
    old
}

/// `red.relaxed.gpu.global.add.u32`: a fire-and-forget increment (the issuing thread does not
/// wait for the old value).
#[inline(always)]
pub unsafe fn red_add_relaxed_gpu_u32(p: *mut u32, v: u32) {
    unsafe { asm!("red.relaxed.gpu.global.add.u32 [{p}], {v};", p = in(reg64) p, v = in(reg32) v) };
}

/// `red.release.gpu.global.add.u32`: a fire-and-forget increment that publishes earlier writes.
#[inline(always)]
pub unsafe fn red_add_release_gpu_u32(p: *mut u32, v: u32) {
    unsafe { asm!("red.release.gpu.global.add.u32 [{p}], {v};", p = in(reg64) p, v = in(reg32) v) };
}

/// `atom.acq_rel.sys.global.cas.b32`: returns the old value.
#[inline(always)]
pub unsafe fn atom_cas_sys_u32(p: *mut u32, cmp: u32, new: u32) -> u32 {
    let old: u32;
    unsafe {
        asm!("atom.acq_rel.sys.global.cas.b32 {o}, [{p}], {c}, {n};",
            o = out(reg32) old, p = in(reg64) p, c = in(reg32) cmp, n = in(reg32) new)
    };
    old
}

/// `st.relaxed.sys.global.u32`: a plain store visible to peers (abort broadcast).
#[inline(always)]
pub unsafe fn st_relaxed_sys_u32(p: *mut u32, v: u32) {
    unsafe { asm!("st.relaxed.sys.global.u32 [{p}], {v};", p = in(reg64) p, v = in(reg32) v) };
}

/// `ld.relaxed.sys.global.u32`.
#[inline(always)]
pub unsafe fn ld_relaxed_sys_u32(p: *const u32) -> u32 {
    let v: u32;
    unsafe { asm!("ld.relaxed.sys.global.u32 {v}, [{p}];", v = out(reg32) v, p = in(reg64) p) };
    v
}

/// `ld.acquire.cta.shared.u32`: reads a word another warp of this block released.
#[inline(always)]
pub unsafe fn ld_acquire_cta_shared_u32(addr: u32) -> u32 {
    let v: u32;
    unsafe { asm!("ld.acquire.cta.shared.u32 {v}, [{a}];", v = out(reg32) v, a = in(reg32) addr) };
    v
}

/// `atom.relaxed.cta.shared.cas.b32`: returns the old value.
#[inline(always)]
pub unsafe fn atom_cas_cta_shared_u32(addr: u32, cmp: u32, new: u32) -> u32 {
    let old: u32;
    unsafe {
        asm!("atom.relaxed.cta.shared.cas.b32 {o}, [{a}], {c}, {n};",
            o = out(reg32) old, a = in(reg32) addr, c = in(reg32) cmp, n = in(reg32) new)
    };
    old
}

/// `atom.acq_rel.cta.shared.add.u32`: returns the old value.
#[inline(always)]
pub unsafe fn atom_add_cta_shared_u32(addr: u32, v: u32) -> u32 {
    let old: u32;
    unsafe { asm!("atom.acq_rel.cta.shared.add.u32 {o}, [{a}], {v};", o = out(reg32) old, a = in(reg32) addr, v = in(reg32) v) };
    old
}

// Block barriers are LLVM's intrinsics, not inline asm: Rust inline asm is not convergent, so
// LLVM may duplicate it into both sides of a branch, and the threads of one warp would then
// reach different copies of an `.aligned` barrier, which is undefined (measured: the 384-thread
// kernel hung with thread 0 and threads 1..127 at two copies of `bar.sync 1, 128` after
// `params_to_shared`). The intrinsics are convergent, so they stay where they are and keep the
// fast aligned form (the non-aligned `barrier.sync` cost sm_80 entries 32-60 spill bytes).
unsafe extern "unadjusted" {
    #[link_name = "llvm.nvvm.barrier.cta.sync.aligned.count"]
    fn bar_sync_count(id: i32, count: i32);
    #[link_name = "llvm.nvvm.barrier.cta.red.or.aligned.count"]
    fn bar_red_or_count(id: i32, count: i32, pred: bool) -> bool;
    // Non-aligned forms, for barriers whose warps may arrive from different paths (a warp-
    // specialized block's roles): ptxas reconverges each warp before them.
    #[link_name = "llvm.nvvm.barrier.cta.sync.count"]
    fn barrier_sync_count(id: i32, count: i32);
    #[link_name = "llvm.nvvm.barrier.cta.red.or.all"]
    fn barrier_red_or_all(id: i32, pred: bool) -> bool;
    #[link_name = "llvm.nvvm.barrier.cta.arrive.count"]
    fn barrier_arrive_count(id: i32, count: i32);
}

/// `bar.sync 1, 128`: the 128 threads of the role warpgroup: the whole block of a 128-thread
/// kernel, warpgroup 0 of a warp-specialized one. Named barrier 1, not 0: the hardware treats
/// barrier 0 as the whole block's whatever the count (a 128-count barrier 0 in a 384-thread
/// block waits for all 384: measured, it hangs). Also orders shared and global memory among them.
#[inline(always)]
pub fn sync_threads() {
    unsafe { bar_sync_count(1, 128) };
}

/// `bar.red.or.pred 1, 128`: [`sync_threads`] that also tells every thread whether `pred` held
/// on any of them.
#[inline(always)]
pub fn sync_threads_or(pred: bool) -> bool {
    unsafe { bar_red_or_count(1, 128, pred) }
}

/// `barrier.sync id, 128`: named barrier `id` of one 128-thread warpgroup (1: the role warpgroup,
/// 2 and 3: the consumer warpgroups of a warp-specialized block). Inline asm: as the convergent
/// intrinsic it moved the ws consumers' register allocation (perf log v19: 40 -> 484 spill bytes
/// with the block barrier change).
#[inline(always)]
pub fn sync_warpgroup(id: u32) {
    unsafe { asm!("barrier.sync {id}, 128;", id = in(reg32) id) };
}

/// `barrier.red.or.pred id, 128`: [`sync_warpgroup`] that also tells every thread whether `pred` held
/// on any of the warpgroup.
#[inline(always)]
pub fn sync_warpgroup_or(id: u32, pred: bool) -> bool {
    let r: u32;
    unsafe {
        asm!("{{ .reg .pred p, q; setp.ne.u32 p, {x}, 0; barrier.red.or.pred q, {id}, 128, p; selp.u32 {r}, 1, 0, q; }}",
            r = out(reg32) r, x = in(reg32) pred as u32, id = in(reg32) id)
    };
    r != 0
}

/// `barrier.red.or.pred 0` (not `.aligned`, convergent): every thread of the block (all
/// warpgroups) meets; true on every thread when `pred` held on any. Every thread reaches it at
/// the same instruction (synccheck reports a block barrier met at two: "Divergent thread(s) in
/// block"); warpgroups that meet from different code use [`arrive_named`] + [`sync_named`].
#[inline(always)]
pub fn sync_block_or(pred: bool) -> bool {
    unsafe { barrier_red_or_all(0, pred) }
}

/// `barrier.arrive id, count` (convergent): counts this thread's arrival at named barrier `id`
/// without waiting; its earlier shared and global writes are visible to the threads that pass
/// the barrier's [`sync_named`] (the producer side of a hand-off between warpgroups).
#[inline(always)]
pub fn arrive_named(id: u32, count: u32) {
    unsafe { barrier_arrive_count(id as i32, count as i32) };
}

/// `barrier.sync id, count` (not `.aligned`, convergent): waits until `count` threads arrived
/// at named barrier `id` (the consumer side of [`arrive_named`]).
#[inline(always)]
pub fn sync_named(id: u32, count: u32) {
    unsafe { barrier_sync_count(id as i32, count as i32) };
}

/// `red.release.sys.global.add.u32`: an increment a peer GPU may read, ordered after this thread's
/// earlier writes (and, through a preceding barrier and fence, its block's).
#[inline(always)]
pub unsafe fn red_add_release_sys_u32(p: *mut u32, v: u32) {
    unsafe { asm!("red.release.sys.global.add.u32 [{p}], {v};", p = in(reg64) p, v = in(reg32) v) };
}

/// `ld.acquire.sys.global.u32`: for words peers update.
#[inline(always)]
pub unsafe fn ld_acquire_sys_u32(p: *const u32) -> u32 {
    let v: u32;
    unsafe { asm!("ld.acquire.sys.global.u32 {v}, [{p}];", v = out(reg32) v, p = in(reg64) p) };
    v
}
