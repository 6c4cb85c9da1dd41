//! Hopper warpgroup MMA (sm_90a only): `wgmma.mma_async` from shared-memory descriptors, and the
//! proxy fence that makes ordinary shared-memory writes visible to it.
//!
//! Operands are K-major in the canonical 128-byte-swizzle layout: 8-row x 128-byte atoms 1024
//! bytes apart, the 16-byte chunk c of row r stored at chunk c ^ (r % 8), atoms 1024-byte aligned.
//! That is exactly the cp.async tile layout of `gemm::mainloop`, so one loader feeds both paths.

use core::arch::asm;

/// Shared-memory matrix descriptor of a K-major operand tile in the 128B-swizzle layout starting
/// at shared address `addr` (plus a K offset below 128 bytes): bits 0-13 address >> 4, 16-29
/// leading byte offset (unused for swizzled K-major, 1 by convention), 32-45 stride byte offset
/// (1024 B between 8-row atoms) >> 4, 62-63 layout type 1 = 128B swizzle.
#[inline(always)]
pub fn descriptor_sw128(addr: u32) -> u64 {
    (((addr & 0x3_ffff) >> 4) as u64) | (1u64 << 16) | ((1024u64 >> 4) << 32) | (1u64 << 62)
}

/// `fence.proxy.async.shared::cta`: this thread's earlier shared-memory writes (st.shared and
/// cp.async) become visible to the async proxy that wgmma reads through.
#[inline(always)]
pub fn fence_proxy_async_shared() {
    unsafe { asm!("fence.proxy.async.shared::cta;") };
}

/// Four `wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16` on one 128-byte K slice
/// (4 x k16 of bf16), between `wgmma.fence` and `wgmma.commit_group` + `wgmma.wait_group 0`: the accumulators are complete
/// when the asm block ends, so the compiler can never touch them while the MMA is in flight.
/// `acc0`/`acc1` are this thread's 64 accumulators (column blocks 0-7 and 8-15 of the m64n128
/// tile); `a`/`b` the shared-memory descriptors of each K step.
#[inline(always)]
pub unsafe fn mma_bf16_m64n128_x4(acc0: &mut [[f32; 4]; 8], acc1: &mut [[f32; 4]; 8], a: [u64; 4], b: [u64; 4]) {
    unsafe {
        asm!(
            "{{",
            ".reg .pred p;",
            "setp.ne.b32 p, 1, 0;",
            "wgmma.fence.sync.aligned;",
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a0}, {b0}, p, 1, 1, 0, 0;",
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a1}, {b1}, p, 1, 1, 0, 0;",
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a2}, {b2}, p, 1, 1, 0, 0;",
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a3}, {b3}, p, 1, 1, 0, 0;",
            "wgmma.commit_group.sync.aligned;",
            "wgmma.wait_group.sync.aligned 0;",
            "}}",
            d0 = inout(reg32) acc0[0][0],
            d1 = inout(reg32) acc0[0][1],
            d2 = inout(reg32) acc0[0][2],
            d3 = inout(reg32) acc0[0][3],
            d4 = inout(reg32) acc0[1][0],
            d5 = inout(reg32) acc0[1][1],
            d6 = inout(reg32) acc0[1][2],
            d7 = inout(reg32) acc0[1][3],
            d8 = inout(reg32) acc0[2][0],
            d9 = inout(reg32) acc0[2][1],
            d10 = inout(reg32) acc0[2][2],
            d11 = inout(reg32) acc0[2][3],
            d12 = inout(reg32) acc0[3][0],
            d13 = inout(reg32) acc0[3][1],
            d14 = inout(reg32) acc0[3][2],
            d15 = inout(reg32) acc0[3][3],
            d16 = inout(reg32) acc0[4][0],
            d17 = inout(reg32) acc0[4][1],
            d18 = inout(reg32) acc0[4][2],
            d19 = inout(reg32) acc0[4][3],
            d20 = inout(reg32) acc0[5][0],
            d21 = inout(reg32) acc0[5][1],
            d22 = inout(reg32) acc0[5][2],
            d23 = inout(reg32) acc0[5][3],
            d24 = inout(reg32) acc0[6][0],
            d25 = inout(reg32) acc0[6][1],
            d26 = inout(reg32) acc0[6][2],
            d27 = inout(reg32) acc0[6][3],
            d28 = inout(reg32) acc0[7][0],
            d29 = inout(reg32) acc0[7][1],
            d30 = inout(reg32) acc0[7][2],
            d31 = inout(reg32) acc0[7][3],
            d32 = inout(reg32) acc1[0][0],
            d33 = inout(reg32) acc1[0][1],
            d34 = inout(reg32) acc1[0][2],
            d35 = inout(reg32) acc1[0][3],
            d36 = inout(reg32) acc1[1][0],
            d37 = inout(reg32) acc1[1][1],
            d38 = inout(reg32) acc1[1][2],
            d39 = inout(reg32) acc1[1][3],
            d40 = inout(reg32) acc1[2][0],
            d41 = inout(reg32) acc1[2][1],
            d42 = inout(reg32) acc1[2][2],
            d43 = inout(reg32) acc1[2][3],
            d44 = inout(reg32) acc1[3][0],
            d45 = inout(reg32) acc1[3][1],
            d46 = inout(reg32) acc1[3][2],
            d47 = inout(reg32) acc1[3][3],
            d48 = inout(reg32) acc1[4][0],
            d49 = inout(reg32) acc1[4][1],
            d50 = inout(reg32) acc1[4][2],
            d51 = inout(reg32) acc1[4][3],
            d52 = inout(reg32) acc1[5][0],
            d53 = inout(reg32) acc1[5][1],
            d54 = inout(reg32) acc1[5][2],
            d55 = inout(reg32) acc1[5][3],
            d56 = inout(reg32) acc1[6][0],
            d57 = inout(reg32) acc1[6][1],
            d58 = inout(reg32) acc1[6][2],
            d59 = inout(reg32) acc1[6][3],
            d60 = inout(reg32) acc1[7][0],
            d61 = inout(reg32) acc1[7][1],
            d62 = inout(reg32) acc1[7][2],
            d63 = inout(reg32) acc1[7][3],
            a0 = in(reg64) a[0], b0 = in(reg64) b[0],
            a1 = in(reg64) a[1], b1 = in(reg64) b[1],
            a2 = in(reg64) a[2], b2 = in(reg64) b[2],
            a3 = in(reg64) a[3], b3 = in(reg64) b[3],
            options(nostack)
        )
    };
}

/// Four `wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16` on one 128-byte K slice
/// (4 x k16 of f16), between `wgmma.fence` and `wgmma.commit_group` + `wgmma.wait_group 0`: the accumulators are complete
/// when the asm block ends, so the compiler can never touch them while the MMA is in flight.
/// `acc0`/`acc1` are this thread's 64 accumulators (column blocks 0-7 and 8-15 of the m64n128
/// tile); `a`/`b` the shared-memory descriptors of each K step.
#[inline(always)]
pub unsafe fn mma_f16_m64n128_x4(acc0: &mut [[f32; 4]; 8], acc1: &mut [[f32; 4]; 8], a: [u64; 4], b: [u64; 4]) {
    unsafe {
        asm!(
            "{{",
            ".reg .pred p;",
            "setp.ne.b32 p, 1, 0;",
            "wgmma.fence.sync.aligned;",
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a0}, {b0}, p, 1, 1, 0, 0;",
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a1}, {b1}, p, 1, 1, 0, 0;",
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a2}, {b2}, p, 1, 1, 0, 0;",
            "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a3}, {b3}, p, 1, 1, 0, 0;",
            "wgmma.commit_group.sync.aligned;",
            "wgmma.wait_group.sync.aligned 0;",
            "}}",
            d0 = inout(reg32) acc0[0][0],
            d1 = inout(reg32) acc0[0][1],
            d2 = inout(reg32) acc0[0][2],
            d3 = inout(reg32) acc0[0][3],
            d4 = inout(reg32) acc0[1][0],
            d5 = inout(reg32) acc0[1][1],
            d6 = inout(reg32) acc0[1][2],
            d7 = inout(reg32) acc0[1][3],
            d8 = inout(reg32) acc0[2][0],
            d9 = inout(reg32) acc0[2][1],
            d10 = inout(reg32) acc0[2][2],
            d11 = inout(reg32) acc0[2][3],
            d12 = inout(reg32) acc0[3][0],
            d13 = inout(reg32) acc0[3][1],
            d14 = inout(reg32) acc0[3][2],
            d15 = inout(reg32) acc0[3][3],
            d16 = inout(reg32) acc0[4][0],
            d17 = inout(reg32) acc0[4][1],
            d18 = inout(reg32) acc0[4][2],
            d19 = inout(reg32) acc0[4][3],
            d20 = inout(reg32) acc0[5][0],
            d21 = inout(reg32) acc0[5][1],
            d22 = inout(reg32) acc0[5][2],
            d23 = inout(reg32) acc0[5][3],
            d24 = inout(reg32) acc0[6][0],
            d25 = inout(reg32) acc0[6][1],
            d26 = inout(reg32) acc0[6][2],
            d27 = inout(reg32) acc0[6][3],
            d28 = inout(reg32) acc0[7][0],
            d29 = inout(reg32) acc0[7][1],
            d30 = inout(reg32) acc0[7][2],
            d31 = inout(reg32) acc0[7][3],
            d32 = inout(reg32) acc1[0][0],
            d33 = inout(reg32) acc1[0][1],
            d34 = inout(reg32) acc1[0][2],
            d35 = inout(reg32) acc1[0][3],
            d36 = inout(reg32) acc1[1][0],
            d37 = inout(reg32) acc1[1][1],
            d38 = inout(reg32) acc1[1][2],
            d39 = inout(reg32) acc1[1][3],
            d40 = inout(reg32) acc1[2][0],
            d41 = inout(reg32) acc1[2][1],
            d42 = inout(reg32) acc1[2][2],
            d43 = inout(reg32) acc1[2][3],
            d44 = inout(reg32) acc1[3][0],
            d45 = inout(reg32) acc1[3][1],
            d46 = inout(reg32) acc1[3][2],
            d47 = inout(reg32) acc1[3][3],
            d48 = inout(reg32) acc1[4][0],
            d49 = inout(reg32) acc1[4][1],
            d50 = inout(reg32) acc1[4][2],
            d51 = inout(reg32) acc1[4][3],
            d52 = inout(reg32) acc1[5][0],
            d53 = inout(reg32) acc1[5][1],
            d54 = inout(reg32) acc1[5][2],
            d55 = inout(reg32) acc1[5][3],
            d56 = inout(reg32) acc1[6][0],
            d57 = inout(reg32) acc1[6][1],
            d58 = inout(reg32) acc1[6][2],
            d59 = inout(reg32) acc1[6][3],
            d60 = inout(reg32) acc1[7][0],
            d61 = inout(reg32) acc1[7][1],
            d62 = inout(reg32) acc1[7][2],
            d63 = inout(reg32) acc1[7][3],
            a0 = in(reg64) a[0], b0 = in(reg64) b[0],
            a1 = in(reg64) a[1], b1 = in(reg64) b[1],
            a2 = in(reg64) a[2], b2 = in(reg64) b[2],
            a3 = in(reg64) a[3], b3 = in(reg64) b[3],
            options(nostack)
        )
    };
}
