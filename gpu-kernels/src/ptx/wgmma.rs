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

/// Four `wgmma.mma_async.sync.aligned.m64n128k16.f32.<t>.<t>` over one 128-byte K slice (4 x k16),
/// between `wgmma.fence` and `wgmma.commit_group` + `wgmma.wait_group 0`: the accumulators are
/// complete when the asm block ends, so the compiler never touches them while the MMA is in
/// flight. `acc0`/`acc1` are this thread's 64 accumulators (column blocks 0-7 and 8-15 of the
/// m64n128 tile); `a`/`b` the shared-memory descriptors of each K step.
macro_rules! wgmma_m64n128_x4 {
    ($name:ident, $t:literal) => {
        #[inline(always)]
        pub unsafe fn $name(acc0: &mut [[f32; 4]; 8], acc1: &mut [[f32; 4]; 8], a: [u64; 4], b: [u64; 4]) {
            unsafe { wgmma_m64n128_x4!(@asm acc0, acc1, a, b, $t) };
        }
    };
    (@asm $acc0:ident, $acc1:ident, $a:ident, $b:ident, $t:literal) => {
        asm!(
            "{{",
            ".reg .pred p;",
            "setp.ne.b32 p, 1, 0;",
            "wgmma.fence.sync.aligned;",
            concat!("wgmma.mma_async.sync.aligned.m64n128k16.f32.", $t, ".", $t, " {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a0}, {b0}, p, 1, 1, 0, 0;"),
            concat!("wgmma.mma_async.sync.aligned.m64n128k16.f32.", $t, ".", $t, " {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a1}, {b1}, p, 1, 1, 0, 0;"),
            concat!("wgmma.mma_async.sync.aligned.m64n128k16.f32.", $t, ".", $t, " {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a2}, {b2}, p, 1, 1, 0, 0;"),
            concat!("wgmma.mma_async.sync.aligned.m64n128k16.f32.", $t, ".", $t, " {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a3}, {b3}, p, 1, 1, 0, 0;"),
            "wgmma.commit_group.sync.aligned;",
            "wgmma.wait_group.sync.aligned 0;",
            "}}",
                d0 = inout(reg32) $acc0[0][0],
                d1 = inout(reg32) $acc0[0][1],
                d2 = inout(reg32) $acc0[0][2],
                d3 = inout(reg32) $acc0[0][3],
                d4 = inout(reg32) $acc0[1][0],
                d5 = inout(reg32) $acc0[1][1],
                d6 = inout(reg32) $acc0[1][2],
                d7 = inout(reg32) $acc0[1][3],
                d8 = inout(reg32) $acc0[2][0],
                d9 = inout(reg32) $acc0[2][1],
                d10 = inout(reg32) $acc0[2][2],
                d11 = inout(reg32) $acc0[2][3],
                d12 = inout(reg32) $acc0[3][0],
                d13 = inout(reg32) $acc0[3][1],
                d14 = inout(reg32) $acc0[3][2],
                d15 = inout(reg32) $acc0[3][3],
                d16 = inout(reg32) $acc0[4][0],
                d17 = inout(reg32) $acc0[4][1],
                d18 = inout(reg32) $acc0[4][2],
                d19 = inout(reg32) $acc0[4][3],
                d20 = inout(reg32) $acc0[5][0],
                d21 = inout(reg32) $acc0[5][1],
                d22 = inout(reg32) $acc0[5][2],
                d23 = inout(reg32) $acc0[5][3],
                d24 = inout(reg32) $acc0[6][0],
                d25 = inout(reg32) $acc0[6][1],
                d26 = inout(reg32) $acc0[6][2],
                d27 = inout(reg32) $acc0[6][3],
                d28 = inout(reg32) $acc0[7][0],
                d29 = inout(reg32) $acc0[7][1],
                d30 = inout(reg32) $acc0[7][2],
                d31 = inout(reg32) $acc0[7][3],
                d32 = inout(reg32) $acc1[0][0],
                d33 = inout(reg32) $acc1[0][1],
                d34 = inout(reg32) $acc1[0][2],
                d35 = inout(reg32) $acc1[0][3],
                d36 = inout(reg32) $acc1[1][0],
                d37 = inout(reg32) $acc1[1][1],
                d38 = inout(reg32) $acc1[1][2],
                d39 = inout(reg32) $acc1[1][3],
                d40 = inout(reg32) $acc1[2][0],
                d41 = inout(reg32) $acc1[2][1],
                d42 = inout(reg32) $acc1[2][2],
                d43 = inout(reg32) $acc1[2][3],
                d44 = inout(reg32) $acc1[3][0],
                d45 = inout(reg32) $acc1[3][1],
                d46 = inout(reg32) $acc1[3][2],
                d47 = inout(reg32) $acc1[3][3],
                d48 = inout(reg32) $acc1[4][0],
                d49 = inout(reg32) $acc1[4][1],
                d50 = inout(reg32) $acc1[4][2],
                d51 = inout(reg32) $acc1[4][3],
                d52 = inout(reg32) $acc1[5][0],
                d53 = inout(reg32) $acc1[5][1],
                d54 = inout(reg32) $acc1[5][2],
                d55 = inout(reg32) $acc1[5][3],
                d56 = inout(reg32) $acc1[6][0],
                d57 = inout(reg32) $acc1[6][1],
                d58 = inout(reg32) $acc1[6][2],
                d59 = inout(reg32) $acc1[6][3],
                d60 = inout(reg32) $acc1[7][0],
                d61 = inout(reg32) $acc1[7][1],
                d62 = inout(reg32) $acc1[7][2],
                d63 = inout(reg32) $acc1[7][3],
                a0 = in(reg64) $a[0], b0 = in(reg64) $b[0], a1 = in(reg64) $a[1], b1 = in(reg64) $b[1],
                a2 = in(reg64) $a[2], b2 = in(reg64) $b[2], a3 = in(reg64) $a[3], b3 = in(reg64) $b[3],
            options(nostack)
        )
    };
}

/// Both 64-row halves of a 128x128 tile over one 128-byte K slice: eight wgmma m64n128k16 (halves
/// interleaved per K step) in one fence / commit / `wait_group 0` bracket, so the tensor pipe
/// drains once per stage. `acc[2h..2h+2]` are half h's 64 accumulators; `a0`/`a1` the halves'
/// descriptors per K step.
macro_rules! wgmma_m128n128_x4 {
    ($name:ident, $t:literal) => {
        #[inline(always)]
        pub unsafe fn $name(acc: &mut [[[f32; 4]; 8]; 4], a0: [u64; 4], a1: [u64; 4], b: [u64; 4]) {
            unsafe { wgmma_m128n128_x4!(@asm acc, a0, a1, b, $t) };
        }
    };
    (@asm $acc:ident, $a0:ident, $a1:ident, $b:ident, $t:literal) => {
        asm!(
            "{{",
            ".reg .pred p;",
            "setp.ne.b32 p, 1, 0;",
            "wgmma.fence.sync.aligned;",
            concat!("wgmma.mma_async.sync.aligned.m64n128k16.f32.", $t, ".", $t, " {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a00}, {b0}, p, 1, 1, 0, 0;"),
            concat!("wgmma.mma_async.sync.aligned.m64n128k16.f32.", $t, ".", $t, " {{{d64}, {d65}, {d66}, {d67}, {d68}, {d69}, {d70}, {d71}, {d72}, {d73}, {d74}, {d75}, {d76}, {d77}, {d78}, {d79}, {d80}, {d81}, {d82}, {d83}, {d84}, {d85}, {d86}, {d87}, {d88}, {d89}, {d90}, {d91}, {d92}, {d93}, {d94}, {d95}, {d96}, {d97}, {d98}, {d99}, {d100}, {d101}, {d102}, {d103}, {d104}, {d105}, {d106}, {d107}, {d108}, {d109}, {d110}, {d111}, {d112}, {d113}, {d114}, {d115}, {d116}, {d117}, {d118}, {d119}, {d120}, {d121}, {d122}, {d123}, {d124}, {d125}, {d126}, {d127}}}, {a10}, {b0}, p, 1, 1, 0, 0;"),
            concat!("wgmma.mma_async.sync.aligned.m64n128k16.f32.", $t, ".", $t, " {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a01}, {b1}, p, 1, 1, 0, 0;"),
            concat!("wgmma.mma_async.sync.aligned.m64n128k16.f32.", $t, ".", $t, " {{{d64}, {d65}, {d66}, {d67}, {d68}, {d69}, {d70}, {d71}, {d72}, {d73}, {d74}, {d75}, {d76}, {d77}, {d78}, {d79}, {d80}, {d81}, {d82}, {d83}, {d84}, {d85}, {d86}, {d87}, {d88}, {d89}, {d90}, {d91}, {d92}, {d93}, {d94}, {d95}, {d96}, {d97}, {d98}, {d99}, {d100}, {d101}, {d102}, {d103}, {d104}, {d105}, {d106}, {d107}, {d108}, {d109}, {d110}, {d111}, {d112}, {d113}, {d114}, {d115}, {d116}, {d117}, {d118}, {d119}, {d120}, {d121}, {d122}, {d123}, {d124}, {d125}, {d126}, {d127}}}, {a11}, {b1}, p, 1, 1, 0, 0;"),
            concat!("wgmma.mma_async.sync.aligned.m64n128k16.f32.", $t, ".", $t, " {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a02}, {b2}, p, 1, 1, 0, 0;"),
            concat!("wgmma.mma_async.sync.aligned.m64n128k16.f32.", $t, ".", $t, " {{{d64}, {d65}, {d66}, {d67}, {d68}, {d69}, {d70}, {d71}, {d72}, {d73}, {d74}, {d75}, {d76}, {d77}, {d78}, {d79}, {d80}, {d81}, {d82}, {d83}, {d84}, {d85}, {d86}, {d87}, {d88}, {d89}, {d90}, {d91}, {d92}, {d93}, {d94}, {d95}, {d96}, {d97}, {d98}, {d99}, {d100}, {d101}, {d102}, {d103}, {d104}, {d105}, {d106}, {d107}, {d108}, {d109}, {d110}, {d111}, {d112}, {d113}, {d114}, {d115}, {d116}, {d117}, {d118}, {d119}, {d120}, {d121}, {d122}, {d123}, {d124}, {d125}, {d126}, {d127}}}, {a12}, {b2}, p, 1, 1, 0, 0;"),
            concat!("wgmma.mma_async.sync.aligned.m64n128k16.f32.", $t, ".", $t, " {{{d0}, {d1}, {d2}, {d3}, {d4}, {d5}, {d6}, {d7}, {d8}, {d9}, {d10}, {d11}, {d12}, {d13}, {d14}, {d15}, {d16}, {d17}, {d18}, {d19}, {d20}, {d21}, {d22}, {d23}, {d24}, {d25}, {d26}, {d27}, {d28}, {d29}, {d30}, {d31}, {d32}, {d33}, {d34}, {d35}, {d36}, {d37}, {d38}, {d39}, {d40}, {d41}, {d42}, {d43}, {d44}, {d45}, {d46}, {d47}, {d48}, {d49}, {d50}, {d51}, {d52}, {d53}, {d54}, {d55}, {d56}, {d57}, {d58}, {d59}, {d60}, {d61}, {d62}, {d63}}}, {a03}, {b3}, p, 1, 1, 0, 0;"),
            concat!("wgmma.mma_async.sync.aligned.m64n128k16.f32.", $t, ".", $t, " {{{d64}, {d65}, {d66}, {d67}, {d68}, {d69}, {d70}, {d71}, {d72}, {d73}, {d74}, {d75}, {d76}, {d77}, {d78}, {d79}, {d80}, {d81}, {d82}, {d83}, {d84}, {d85}, {d86}, {d87}, {d88}, {d89}, {d90}, {d91}, {d92}, {d93}, {d94}, {d95}, {d96}, {d97}, {d98}, {d99}, {d100}, {d101}, {d102}, {d103}, {d104}, {d105}, {d106}, {d107}, {d108}, {d109}, {d110}, {d111}, {d112}, {d113}, {d114}, {d115}, {d116}, {d117}, {d118}, {d119}, {d120}, {d121}, {d122}, {d123}, {d124}, {d125}, {d126}, {d127}}}, {a13}, {b3}, p, 1, 1, 0, 0;"),
            "wgmma.commit_group.sync.aligned;",
            "wgmma.wait_group.sync.aligned 0;",
            "}}",
                d0 = inout(reg32) $acc[0][0][0],
                d1 = inout(reg32) $acc[0][0][1],
                d2 = inout(reg32) $acc[0][0][2],
                d3 = inout(reg32) $acc[0][0][3],
                d4 = inout(reg32) $acc[0][1][0],
                d5 = inout(reg32) $acc[0][1][1],
                d6 = inout(reg32) $acc[0][1][2],
                d7 = inout(reg32) $acc[0][1][3],
                d8 = inout(reg32) $acc[0][2][0],
                d9 = inout(reg32) $acc[0][2][1],
                d10 = inout(reg32) $acc[0][2][2],
                d11 = inout(reg32) $acc[0][2][3],
                d12 = inout(reg32) $acc[0][3][0],
                d13 = inout(reg32) $acc[0][3][1],
                d14 = inout(reg32) $acc[0][3][2],
                d15 = inout(reg32) $acc[0][3][3],
                d16 = inout(reg32) $acc[0][4][0],
                d17 = inout(reg32) $acc[0][4][1],
                d18 = inout(reg32) $acc[0][4][2],
                d19 = inout(reg32) $acc[0][4][3],
                d20 = inout(reg32) $acc[0][5][0],
                d21 = inout(reg32) $acc[0][5][1],
                d22 = inout(reg32) $acc[0][5][2],
                d23 = inout(reg32) $acc[0][5][3],
                d24 = inout(reg32) $acc[0][6][0],
                d25 = inout(reg32) $acc[0][6][1],
                d26 = inout(reg32) $acc[0][6][2],
                d27 = inout(reg32) $acc[0][6][3],
                d28 = inout(reg32) $acc[0][7][0],
                d29 = inout(reg32) $acc[0][7][1],
                d30 = inout(reg32) $acc[0][7][2],
                d31 = inout(reg32) $acc[0][7][3],
                d32 = inout(reg32) $acc[1][0][0],
                d33 = inout(reg32) $acc[1][0][1],
                d34 = inout(reg32) $acc[1][0][2],
                d35 = inout(reg32) $acc[1][0][3],
                d36 = inout(reg32) $acc[1][1][0],
                d37 = inout(reg32) $acc[1][1][1],
                d38 = inout(reg32) $acc[1][1][2],
                d39 = inout(reg32) $acc[1][1][3],
                d40 = inout(reg32) $acc[1][2][0],
                d41 = inout(reg32) $acc[1][2][1],
                d42 = inout(reg32) $acc[1][2][2],
                d43 = inout(reg32) $acc[1][2][3],
                d44 = inout(reg32) $acc[1][3][0],
                d45 = inout(reg32) $acc[1][3][1],
                d46 = inout(reg32) $acc[1][3][2],
                d47 = inout(reg32) $acc[1][3][3],
                d48 = inout(reg32) $acc[1][4][0],
                d49 = inout(reg32) $acc[1][4][1],
                d50 = inout(reg32) $acc[1][4][2],
                d51 = inout(reg32) $acc[1][4][3],
                d52 = inout(reg32) $acc[1][5][0],
                d53 = inout(reg32) $acc[1][5][1],
                d54 = inout(reg32) $acc[1][5][2],
                d55 = inout(reg32) $acc[1][5][3],
                d56 = inout(reg32) $acc[1][6][0],
                d57 = inout(reg32) $acc[1][6][1],
                d58 = inout(reg32) $acc[1][6][2],
                d59 = inout(reg32) $acc[1][6][3],
                d60 = inout(reg32) $acc[1][7][0],
                d61 = inout(reg32) $acc[1][7][1],
                d62 = inout(reg32) $acc[1][7][2],
                d63 = inout(reg32) $acc[1][7][3],
                d64 = inout(reg32) $acc[2][0][0],
                d65 = inout(reg32) $acc[2][0][1],
                d66 = inout(reg32) $acc[2][0][2],
                d67 = inout(reg32) $acc[2][0][3],
                d68 = inout(reg32) $acc[2][1][0],
                d69 = inout(reg32) $acc[2][1][1],
                d70 = inout(reg32) $acc[2][1][2],
                d71 = inout(reg32) $acc[2][1][3],
                d72 = inout(reg32) $acc[2][2][0],
                d73 = inout(reg32) $acc[2][2][1],
                d74 = inout(reg32) $acc[2][2][2],
                d75 = inout(reg32) $acc[2][2][3],
                d76 = inout(reg32) $acc[2][3][0],
                d77 = inout(reg32) $acc[2][3][1],
                d78 = inout(reg32) $acc[2][3][2],
                d79 = inout(reg32) $acc[2][3][3],
                d80 = inout(reg32) $acc[2][4][0],
                d81 = inout(reg32) $acc[2][4][1],
                d82 = inout(reg32) $acc[2][4][2],
                d83 = inout(reg32) $acc[2][4][3],
                d84 = inout(reg32) $acc[2][5][0],
                d85 = inout(reg32) $acc[2][5][1],
                d86 = inout(reg32) $acc[2][5][2],
                d87 = inout(reg32) $acc[2][5][3],
                d88 = inout(reg32) $acc[2][6][0],
                d89 = inout(reg32) $acc[2][6][1],
                d90 = inout(reg32) $acc[2][6][2],
                d91 = inout(reg32) $acc[2][6][3],
                d92 = inout(reg32) $acc[2][7][0],
                d93 = inout(reg32) $acc[2][7][1],
                d94 = inout(reg32) $acc[2][7][2],
                d95 = inout(reg32) $acc[2][7][3],
                d96 = inout(reg32) $acc[3][0][0],
                d97 = inout(reg32) $acc[3][0][1],
                d98 = inout(reg32) $acc[3][0][2],
                d99 = inout(reg32) $acc[3][0][3],
                d100 = inout(reg32) $acc[3][1][0],
                d101 = inout(reg32) $acc[3][1][1],
                d102 = inout(reg32) $acc[3][1][2],
                d103 = inout(reg32) $acc[3][1][3],
                d104 = inout(reg32) $acc[3][2][0],
                d105 = inout(reg32) $acc[3][2][1],
                d106 = inout(reg32) $acc[3][2][2],
                d107 = inout(reg32) $acc[3][2][3],
                d108 = inout(reg32) $acc[3][3][0],
                d109 = inout(reg32) $acc[3][3][1],
                d110 = inout(reg32) $acc[3][3][2],
                d111 = inout(reg32) $acc[3][3][3],
                d112 = inout(reg32) $acc[3][4][0],
                d113 = inout(reg32) $acc[3][4][1],
                d114 = inout(reg32) $acc[3][4][2],
                d115 = inout(reg32) $acc[3][4][3],
                d116 = inout(reg32) $acc[3][5][0],
                d117 = inout(reg32) $acc[3][5][1],
                d118 = inout(reg32) $acc[3][5][2],
                d119 = inout(reg32) $acc[3][5][3],
                d120 = inout(reg32) $acc[3][6][0],
                d121 = inout(reg32) $acc[3][6][1],
                d122 = inout(reg32) $acc[3][6][2],
                d123 = inout(reg32) $acc[3][6][3],
                d124 = inout(reg32) $acc[3][7][0],
                d125 = inout(reg32) $acc[3][7][1],
                d126 = inout(reg32) $acc[3][7][2],
                d127 = inout(reg32) $acc[3][7][3],
                a00 = in(reg64) $a0[0], a10 = in(reg64) $a1[0], b0 = in(reg64) $b[0],
                a01 = in(reg64) $a0[1], a11 = in(reg64) $a1[1], b1 = in(reg64) $b[1],
                a02 = in(reg64) $a0[2], a12 = in(reg64) $a1[2], b2 = in(reg64) $b[2],
                a03 = in(reg64) $a0[3], a13 = in(reg64) $a1[3], b3 = in(reg64) $b[3],
            options(nostack)
        )
    };
}

wgmma_m64n128_x4!(mma_bf16_m64n128_x4, "bf16");
wgmma_m64n128_x4!(mma_f16_m64n128_x4, "f16");
wgmma_m128n128_x4!(mma_bf16_m128n128_x4, "bf16");
wgmma_m128n128_x4!(mma_f16_m128n128_x4, "f16");
