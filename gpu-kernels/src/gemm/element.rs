//! Element types: each dtype's conversions to and from f32 ([`Element`]) and how it feeds the
//! tensor cores ([`Mma`]).

#[cfg(target_feature = "sm_90a")]
use super::mainloop::WgmmaLoop;
use super::mainloop::{BlockLoop, SyncLoop, TileLoop};
#[cfg(target_feature = "sm_90a")]
use crate::ptx::wgmma;
use crate::ptx::{math, mma};

/// This thread's 64 accumulators of one m64n128 wgmma (column blocks 0-7, 8-15).
#[cfg(target_feature = "sm_90a")]
pub type WgmmaHalf<'a> = (&'a mut [[f32; 4]; 8], &'a mut [[f32; 4]; 8]);

/// A storage dtype of activations and weights (accumulation is always f32): its size and its
/// conversions to and from f32. How it meets the tensor cores is [`Mma`].
pub trait Element {
    /// Bytes per element.
    const BYTES: u32;
    /// Elements per 16-byte vector.
    const PER_VEC: usize = (16 / Self::BYTES) as usize;
    /// Widens the elements of a 16-byte vector into `out[..PER_VEC]`.
    fn unpack(v: [u32; 4], out: &mut [f32; 8]);
    /// Narrows `vals[..PER_VEC]` into a 16-byte vector.
    fn pack(vals: &[f32; 8]) -> [u32; 4];
    /// Reads element `i` of a global array as f32.
    ///
    /// # Safety
    /// `p` points to at least `i + 1` elements of read-only input.
    unsafe fn load(p: *const u8, i: u32) -> f32;
}

/// The MMA path of a dtype, the policy the tile mainloops are generic over: mma.sync fragments
/// (sm_80 and later, every dtype) or wgmma from shared-memory descriptors (sm_90a, 16-bit types).
/// A dtype's own impl takes the best path of the build; [`SyncMma`] keeps it on mma.sync.
pub trait Mma: Element {
    /// A fragment register as the MMA wants it (tf32 rounds f32 bits; 16-bit types pass through).
    fn operand(x: u32) -> u32;
    /// d += a·b over one 32-byte K step (m16n8k16 for 16-bit types, m16n8k8 for tf32).
    fn mma(d: &mut [f32; 4], a: &[u32; 4], b0: u32, b1: u32);
    /// The 128-thread tile mainloop of this path.
    type Loop: BlockLoop;
    /// Whether the mainloop uses Hopper wgmma (sm_90a builds, 16-bit types) instead of mma.sync.
    const WGMMA: bool = <Self::Loop as TileLoop>::WGMMA;
    /// Four wgmma k-steps over one 128-byte K slice (only called when `WGMMA`).
    ///
    /// # Safety
    /// `a`/`b` describe valid swizzled operand tiles in shared memory.
    #[cfg(target_feature = "sm_90a")]
    unsafe fn wgmma_x4(acc: WgmmaHalf<'_>, a: [u64; 4], b: [u64; 4]);
    /// Both 64-row halves (`a0`, `a1`) against one B slice, one wait.
    ///
    /// # Safety
    /// As [`Mma::wgmma_x4`].
    #[cfg(target_feature = "sm_90a")]
    unsafe fn wgmma_x8(acc: &mut [[[f32; 4]; 8]; 4], a0: [u64; 4], a1: [u64; 4], b: [u64; 4]);
    /// Four wgmma m64n256k16 (64 rows of a 128x256 tile, one 128-byte K slice) committed but
    /// not awaited: the caller waits with `wgmma::wait_group{1,0}_acc128` before it reuses the
    /// stage or reads `acc` (column block j in `acc[j / 8][j % 8]`).
    ///
    /// # Safety
    /// As [`Mma::wgmma_x4`].
    #[cfg(target_feature = "sm_90a")]
    unsafe fn wgmma_n256_async(acc: &mut [[[f32; 4]; 8]; 4], a: [u64; 4], b: [u64; 4]);
}

/// Runs `E` on the mma.sync path even where wgmma exists (Hopper A/B comparisons).
#[cfg(target_feature = "sm_90a")]
pub struct SyncMma<E>(core::marker::PhantomData<E>);

#[cfg(target_feature = "sm_90a")]
impl<E: Element> Element for SyncMma<E> {
    const BYTES: u32 = E::BYTES;
    #[inline(always)]
    fn unpack(v: [u32; 4], out: &mut [f32; 8]) {
        E::unpack(v, out)
    }
    #[inline(always)]
    fn pack(vals: &[f32; 8]) -> [u32; 4] {
        E::pack(vals)
    }
    #[inline(always)]
    unsafe fn load(p: *const u8, i: u32) -> f32 {
        unsafe { E::load(p, i) }
    }
}

#[cfg(target_feature = "sm_90a")]
impl<E: Mma> Mma for SyncMma<E> {
    type Loop = SyncLoop;
    #[inline(always)]
    fn operand(x: u32) -> u32 {
        E::operand(x)
    }
    #[inline(always)]
    fn mma(d: &mut [f32; 4], a: &[u32; 4], b0: u32, b1: u32) {
        E::mma(d, a, b0, b1)
    }
    unsafe fn wgmma_x4(_: WgmmaHalf<'_>, _: [u64; 4], _: [u64; 4]) {
        unreachable!("SyncMma never takes the wgmma path")
    }
    unsafe fn wgmma_x8(_: &mut [[[f32; 4]; 8]; 4], _: [u64; 4], _: [u64; 4], _: [u64; 4]) {
        unreachable!("SyncMma never takes the wgmma path")
    }
    unsafe fn wgmma_n256_async(_: &mut [[[f32; 4]; 8]; 4], _: [u64; 4], _: [u64; 4]) {
        unreachable!("SyncMma never takes the wgmma path")
    }
}

/// bfloat16.
pub struct Bf16;
/// IEEE binary16.
pub struct F16;
/// f32 storage, tf32 tensor-core math.
pub struct F32;

#[inline(always)]
fn bf16_lo(x: u32) -> f32 {
    f32::from_bits(x << 16)
}

#[inline(always)]
fn bf16_hi(x: u32) -> f32 {
    f32::from_bits(x & 0xffff_0000)
}

impl Element for Bf16 {
    const BYTES: u32 = 2;
    #[inline(always)]
    fn unpack(v: [u32; 4], out: &mut [f32; 8]) {
        unroll!(4, i, {
            out[2 * i] = bf16_lo(v[i]);
            out[2 * i + 1] = bf16_hi(v[i]);
        });
    }
    #[inline(always)]
    fn pack(vals: &[f32; 8]) -> [u32; 4] {
        let mut v = [0u32; 4];
        unroll!(4, i, {
            v[i] = math::pack_bf16x2(vals[2 * i], vals[2 * i + 1]);
        });
        v
    }
    #[inline(always)]
    unsafe fn load(p: *const u8, i: u32) -> f32 {
        let h = unsafe { *(p as *const u16).add(i as usize) };
        f32::from_bits((h as u32) << 16)
    }
}

impl Element for F16 {
    const BYTES: u32 = 2;
    #[inline(always)]
    fn unpack(v: [u32; 4], out: &mut [f32; 8]) {
        unroll!(4, i, {
            out[2 * i] = math::f16_to_f32(v[i]);
            out[2 * i + 1] = math::f16_to_f32(v[i] >> 16);
        });
    }
    #[inline(always)]
    fn pack(vals: &[f32; 8]) -> [u32; 4] {
        let mut v = [0u32; 4];
        unroll!(4, i, {
            v[i] = math::pack_f16x2(vals[2 * i], vals[2 * i + 1]);
        });
        v
    }
    #[inline(always)]
    unsafe fn load(p: *const u8, i: u32) -> f32 {
        let h = unsafe { *(p as *const u16).add(i as usize) };
        math::f16_to_f32(h as u32)
    }
}

/// The 16-bit types' tensor-core steps: the same for both, but for the instructions' type.
macro_rules! mma_16bit {
    ($t:ty, $mma:ident, $x4:ident, $x8:ident, $n256:ident) => {
        impl Mma for $t {
            #[inline(always)]
            fn operand(x: u32) -> u32 {
                x
            }
            #[inline(always)]
            fn mma(d: &mut [f32; 4], a: &[u32; 4], b0: u32, b1: u32) {
                mma::$mma(d, a, b0, b1)
            }
            #[cfg(target_feature = "sm_90a")]
            type Loop = WgmmaLoop;
            #[cfg(not(target_feature = "sm_90a"))]
            type Loop = SyncLoop;
            #[cfg(target_feature = "sm_90a")]
            #[inline(always)]
            unsafe fn wgmma_x4(acc: WgmmaHalf<'_>, a: [u64; 4], b: [u64; 4]) {
                unsafe { wgmma::$x4(acc.0, acc.1, a, b) }
            }
            #[cfg(target_feature = "sm_90a")]
            #[inline(always)]
            unsafe fn wgmma_x8(acc: &mut [[[f32; 4]; 8]; 4], a0: [u64; 4], a1: [u64; 4], b: [u64; 4]) {
                unsafe { wgmma::$x8(acc, a0, a1, b) }
            }
            #[cfg(target_feature = "sm_90a")]
            #[inline(always)]
            unsafe fn wgmma_n256_async(acc: &mut [[[f32; 4]; 8]; 4], a: [u64; 4], b: [u64; 4]) {
                unsafe { wgmma::$n256(acc, a, b) }
            }
        }
    };
}

mma_16bit!(Bf16, mma_bf16_16816, mma_bf16_m64n128_x4, mma_bf16_m128n128_x4, mma_bf16_m64n256_x4_async);
mma_16bit!(F16, mma_f16_16816, mma_f16_m64n128_x4, mma_f16_m128n128_x4, mma_f16_m64n256_x4_async);

impl Element for F32 {
    const BYTES: u32 = 4;
    #[inline(always)]
    fn unpack(v: [u32; 4], out: &mut [f32; 8]) {
        unroll!(4, i, {
            out[i] = f32::from_bits(v[i]);
        });
    }
    #[inline(always)]
    fn pack(vals: &[f32; 8]) -> [u32; 4] {
        [vals[0].to_bits(), vals[1].to_bits(), vals[2].to_bits(), vals[3].to_bits()]
    }
    #[inline(always)]
    unsafe fn load(p: *const u8, i: u32) -> f32 {
        unsafe { *(p as *const f32).add(i as usize) }
    }
}

impl Mma for F32 {
    #[inline(always)]
    fn operand(x: u32) -> u32 {
        mma::cvt_rna_tf32(x)
    }
    #[inline(always)]
    fn mma(d: &mut [f32; 4], a: &[u32; 4], b0: u32, b1: u32) {
        mma::mma_tf32_1688(d, a, b0, b1)
    }
    // tf32 wgmma would truncate f32 operands in shared memory; mma.sync rounds them (cvt.rna).
    type Loop = SyncLoop;
    #[cfg(target_feature = "sm_90a")]
    unsafe fn wgmma_x4(_: WgmmaHalf<'_>, _: [u64; 4], _: [u64; 4]) {
        unreachable!("f32 stays on mma.sync")
    }
    #[cfg(target_feature = "sm_90a")]
    unsafe fn wgmma_x8(_: &mut [[[f32; 4]; 8]; 4], _: [u64; 4], _: [u64; 4], _: [u64; 4]) {
        unreachable!("f32 stays on mma.sync")
    }
    #[cfg(target_feature = "sm_90a")]
    unsafe fn wgmma_n256_async(_: &mut [[[f32; 4]; 8]; 4], _: [u64; 4], _: [u64; 4]) {
        unreachable!("f32 stays on mma.sync")
    }
}
