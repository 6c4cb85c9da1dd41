//! Element encodings and the seeded random values tests and benchmarks use.
//!
//! Random values are m · 2^-s with |m| <= 127: exact in bf16, f16 (within its range) and f32, so
//! the GPU (any dtype) and the f64 reference start from identical numbers.

use half::{bf16, f16};

use crate::config::DType;

/// SplitMix64: small, seedable, the same stream on every platform and version.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform integer in [-127, 127].
    pub fn next_mantissa(&mut self) -> i32 {
        (self.next_u64() % 255) as i32 - 127
    }
}

/// `n` values m · 2^-shift with m uniform in [-127, 127] (standard deviation ≈ 73 · 2^-shift).
pub fn exact_values(rng: &mut SplitMix64, n: usize, shift: i32) -> Vec<f64> {
    let scale = (-shift as f64).exp2();
    (0..n).map(|_| rng.next_mantissa() as f64 * scale).collect()
}

/// The shift that gives values of standard deviation about `1/sqrt(fan_in)` (weights) or 1
/// (`fan_in` = 1: activations).
pub fn shift_for_fan_in(fan_in: usize) -> i32 {
    (73.0 * (fan_in as f64).sqrt()).log2().round() as i32
}

/// Encodes values (exactly representable, or rounded to nearest) as `dtype` bytes.
pub fn encode(dtype: DType, values: &[f64]) -> Vec<u8> {
    match dtype {
        DType::Bf16 => values.iter().flat_map(|&v| bf16::from_f64(v).to_le_bytes()).collect(),
        DType::F16 => values.iter().flat_map(|&v| f16::from_f64(v).to_le_bytes()).collect(),
        DType::F32 => values.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect(),
    }
}

/// Encodes f32 values as `dtype` bytes (rounded to nearest), in parallel: the path weights take.
pub fn encode_f32(dtype: DType, values: &[f32]) -> Vec<u8> {
    use rayon::prelude::*;
    let width = dtype.bytes() as usize;
    let mut out = vec![0u8; values.len() * width];
    out.par_chunks_mut(width * 65536).zip(values.par_chunks(65536)).for_each(|(o, v)| match dtype {
        DType::Bf16 => o.chunks_exact_mut(2).zip(v).for_each(|(d, &x)| d.copy_from_slice(&bf16::from_f32(x).to_le_bytes())),
        DType::F16 => o.chunks_exact_mut(2).zip(v).for_each(|(d, &x)| d.copy_from_slice(&f16::from_f32(x).to_le_bytes())),
        DType::F32 => o.chunks_exact_mut(4).zip(v).for_each(|(d, &x)| d.copy_from_slice(&x.to_le_bytes())),
    });
    out
}

/// [`encode_f32`], or the index of the first value that is not finite once in `dtype` (NaN,
/// infinity, or a finite f32 beyond the dtype's range, such as 1e5 in f16).
pub fn encode_f32_checked(dtype: DType, values: &[f32]) -> Result<Vec<u8>, usize> {
    use rayon::prelude::*;
    let out = encode_f32(dtype, values);
    let width = dtype.bytes() as usize;
    let bad = out.par_chunks_exact(width).position_first(|c| match dtype {
        DType::Bf16 => !bf16::from_le_bytes([c[0], c[1]]).is_finite(),
        DType::F16 => !f16::from_le_bytes([c[0], c[1]]).is_finite(),
        DType::F32 => !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite(),
    });
    match bad {
        Some(i) => Err(i),
        None => Ok(out),
    }
}

/// Decodes `dtype` bytes into f64.
pub fn decode(dtype: DType, bytes: &[u8]) -> Vec<f64> {
    match dtype {
        DType::Bf16 => bytes.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f64()).collect(),
        DType::F16 => bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f64()).collect(),
        DType::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect(),
    }
}

/// Byte pattern that decodes to NaN in every dtype (poisons outputs before a launch).
pub const NAN_BYTE: u8 = 0xff;

/// ‖a − b‖ / ‖b‖; infinite when `a` holds a non-finite value (NaN never passes).
pub fn relative_l2(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() || a.iter().any(|v| !v.is_finite()) {
        return f64::INFINITY;
    }
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    if den == 0.0 { num.sqrt() } else { (num / den).sqrt() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_are_exact_in_every_dtype() {
        let mut rng = SplitMix64::new(7);
        let v = exact_values(&mut rng, 4096, shift_for_fan_in(2048));
        let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        for dt in [DType::Bf16, DType::F16, DType::F32] {
            assert_eq!(decode(dt, &encode(dt, &v)), v, "{dt:?}");
            assert_eq!(encode_f32(dt, &v32), encode(dt, &v), "{dt:?}");
        }
        assert!(v.iter().any(|&x| x != 0.0));
    }

    #[test]
    fn values_beyond_a_dtype_are_found() {
        let v = [1.0f32, -2.5, 1e5, 3.0];
        assert_eq!(encode_f32_checked(DType::F16, &v), Err(2));
        assert!(encode_f32_checked(DType::Bf16, &v).is_ok());
        assert!(encode_f32_checked(DType::F32, &v).is_ok());
        assert_eq!(encode_f32_checked(DType::Bf16, &[0.0, f32::MAX]), Err(1)); // rounds up to inf
        assert_eq!(encode_f32_checked(DType::F32, &[f32::NAN]), Err(0));
        assert_eq!(encode_f32_checked(DType::F16, &[65504.0, -65504.0]).map(|b| b.len()), Ok(4));
    }

    #[test]
    fn seeded_streams_repeat() {
        let a = exact_values(&mut SplitMix64::new(3), 16, 6);
        let b = exact_values(&mut SplitMix64::new(3), 16, 6);
        let c = exact_values(&mut SplitMix64::new(4), 16, 6);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn poison_decodes_to_nan() {
        for dt in [DType::Bf16, DType::F16, DType::F32] {
            let bytes = vec![NAN_BYTE; 8];
            assert!(decode(dt, &bytes).iter().all(|v| v.is_nan()), "{dt:?}");
        }
    }

    #[test]
    fn relative_error_rejects_nan() {
        assert_eq!(relative_l2(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!(relative_l2(&[f64::NAN, 2.0], &[1.0, 2.0]).is_infinite());
        assert!((relative_l2(&[1.1], &[1.0]) - 0.1).abs() < 1e-12);
    }
}
