//! Tensor-core operations of the sm_80 family: `ldmatrix` and `mma.sync`.
//!
//! Fragment layouts (g = lane / 4, t = lane % 4), in 32-bit registers over K measured in bytes:
//! A (16 x 32 bytes): a0 = (row g, bytes 4t..), a1 = (row g+8, 4t..), a2 = (row g, 16+4t..),
//! a3 = (row g+8, 16+4t..). B (8 columns x 32 bytes, K contiguous): b0 = (col g, 4t..),
//! b1 = (col g, 16+4t..). C/D (16 x 8 f32): d0,d1 = (row g, cols 2t, 2t+1), d2,d3 = row g+8.
//! The same byte layout serves bf16/f16 (m16n8k16) and tf32 (m16n8k8), so one shared-memory
//! pipeline feeds every dtype.

use core::arch::asm;

/// `ldmatrix.sync.aligned.m8n8.x4.shared.b16`: four 8x8 b16 matrices; lane l gives the row
/// address of matrix l/8, row l%8, and receives one register of each matrix.
#[inline(always)]
pub unsafe fn ldmatrix_x4(addr: u32) -> [u32; 4] {
    let (a, b, c, d): (u32, u32, u32, u32);
    unsafe {
        asm!("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {{{a}, {b}, {c}, {d}}}, [{s}];",
            a = out(reg32) a, b = out(reg32) b, c = out(reg32) c, d = out(reg32) d, s = in(reg32) addr)
    };
    [a, b, c, d]
}

/// `mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32`: d += a * b.
#[inline(always)]
pub fn mma_bf16_16816(d: &mut [f32; 4], a: &[u32; 4], b0: u32, b1: u32) {
    unsafe {
        asm!("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {{{d0}, {d1}, {d2}, {d3}}}, {{{a0}, {a1}, {a2}, {a3}}}, {{{b0}, {b1}}}, {{{d0}, {d1}, {d2}, {d3}}};",
            d0 = inout(reg32) d[0], d1 = inout(reg32) d[1], d2 = inout(reg32) d[2], d3 = inout(reg32) d[3],
            a0 = in(reg32) a[0], a1 = in(reg32) a[1], a2 = in(reg32) a[2], a3 = in(reg32) a[3],
            b0 = in(reg32) b0, b1 = in(reg32) b1, options(pure, nomem, nostack))
    };
}

/// `mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32`: d += a * b.
#[inline(always)]
pub fn mma_f16_16816(d: &mut [f32; 4], a: &[u32; 4], b0: u32, b1: u32) {
    unsafe {
        asm!("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {{{d0}, {d1}, {d2}, {d3}}}, {{{a0}, {a1}, {a2}, {a3}}}, {{{b0}, {b1}}}, {{{d0}, {d1}, {d2}, {d3}}};",
            d0 = inout(reg32) d[0], d1 = inout(reg32) d[1], d2 = inout(reg32) d[2], d3 = inout(reg32) d[3],
            a0 = in(reg32) a[0], a1 = in(reg32) a[1], a2 = in(reg32) a[2], a3 = in(reg32) a[3],
            b0 = in(reg32) b0, b1 = in(reg32) b1, options(pure, nomem, nostack))
    };
}

/// `mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32`: d += a * b on operands already rounded
/// to tf32 (see [`cvt_rna_tf32`]).
#[inline(always)]
pub fn mma_tf32_1688(d: &mut [f32; 4], a: &[u32; 4], b0: u32, b1: u32) {
    unsafe {
        asm!("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {{{d0}, {d1}, {d2}, {d3}}}, {{{a0}, {a1}, {a2}, {a3}}}, {{{b0}, {b1}}}, {{{d0}, {d1}, {d2}, {d3}}};",
            d0 = inout(reg32) d[0], d1 = inout(reg32) d[1], d2 = inout(reg32) d[2], d3 = inout(reg32) d[3],
            a0 = in(reg32) a[0], a1 = in(reg32) a[1], a2 = in(reg32) a[2], a3 = in(reg32) a[3],
            b0 = in(reg32) b0, b1 = in(reg32) b1, options(pure, nomem, nostack))
    };
}

/// `cvt.rna.tf32.f32`: rounds an f32 to the 10-bit-mantissa tf32 (to nearest, ties away).
#[inline(always)]
pub fn cvt_rna_tf32(x: u32) -> u32 {
    let r: u32;
    unsafe { asm!("cvt.rna.tf32.f32 {r}, {x};", r = out(reg32) r, x = in(reg32) x, options(pure, nomem, nostack)) };
    r
}
