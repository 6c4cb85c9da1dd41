//! Weights from and to safetensors files (the `safetensors` feature: it brings a JSON parser).
//! Names and shapes: see [`crate::weights`].

use std::path::Path;

use half::{bf16, f16};
use rayon::prelude::*;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::config::MoeConfig;
use crate::error::{Error, Result};
use crate::weights::{Weights, expected_shapes};

/// What [`Weights::from_safetensors_with`] does with tensors the configuration does not use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unused {
    /// An error naming the first such tensor (the default).
    Reject,
    /// Skip them (an explicit opt-in, e.g. for a checkpoint that holds more than one layer).
    Ignore,
}

impl Weights {
    /// Reads weights for `cfg` from a safetensors file (names and shapes in the module docs).
    /// A tensor the configuration does not use is an error naming it (a gated or biased
    /// checkpoint must not load silently into a plain config); see [`Self::from_safetensors_with`].
    pub fn from_safetensors(path: &Path, cfg: &MoeConfig) -> Result<Weights> {
        Self::from_safetensors_with(path, cfg, Unused::Reject)
    }

    /// [`Self::from_safetensors`], choosing what happens to tensors the configuration does not use.
    pub fn from_safetensors_with(path: &Path, cfg: &MoeConfig, unused: Unused) -> Result<Weights> {
        let bytes = std::fs::read(path)?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| Error::Weights(format!("{}: {e}", path.display())))?;
        let shapes = expected_shapes(cfg);
        if unused == Unused::Reject {
            let mut names = st.names();
            names.sort();
            if let Some(extra) = names.iter().find(|n| !shapes.iter().any(|(name, _, needed)| *needed && **name == ***n)) {
                return Err(Error::Weights(format!(
                    "{}: tensor `{extra}` is not used by this configuration (gated = {}, bias = {}, router_bias = {}, router = {:?}, shared = {:?}); load with Unused::Ignore to skip it",
                    path.display(),
                    cfg.gated,
                    cfg.bias,
                    cfg.router_bias,
                    cfg.router,
                    cfg.shared
                )));
            }
        }
        let mut out: Vec<Option<Vec<f32>>> = Vec::new();
        for (name, shape, needed) in shapes {
            if !needed {
                out.push(None);
                continue;
            }
            let t = st.tensor(name).map_err(|_| Error::Weights(format!("{}: tensor `{name}` is missing", path.display())))?;
            if t.shape() != shape.as_slice() {
                return Err(Error::Weights(format!("{}: `{name}` has shape {:?}, expected {shape:?}", path.display(), t.shape())));
            }
            out.push(Some(to_f32(name, &t)?));
        }
        let mut it = out.into_iter();
        let mut next = || it.next().flatten();
        let (gate, gate_bias, w1, w3, w2) = (next(), next(), next(), next(), next());
        let (b1, b3, b2) = (next(), next(), next());
        let (score_bias, shared_w1, shared_w3, shared_w2, shared_gate) = (next(), next(), next(), next(), next());
        let w = Weights {
            gate: gate.unwrap_or_default(),
            gate_bias,
            w1: w1.unwrap_or_default(),
            w3,
            w2: w2.unwrap_or_default(),
            b1,
            b3,
            b2,
            score_bias,
            shared_w1,
            shared_w3,
            shared_w2,
            shared_gate,
        };
        w.validate(cfg)?;
        Ok(w)
    }

    /// Writes the weights as an F32 safetensors file readable by [`Weights::from_safetensors`].
    pub fn save_safetensors(&self, path: &Path, cfg: &MoeConfig) -> Result<()> {
        let shapes = expected_shapes(cfg);
        let mut views = Vec::new();
        let data: Vec<(&str, Vec<u8>, Vec<usize>)> = self
            .tensors()
            .into_iter()
            .zip(shapes)
            .filter_map(|((name, v), (_, shape, _))| v.map(|v| (name, v.iter().flat_map(|x| x.to_le_bytes()).collect(), shape)))
            .collect();
        for (name, bytes, shape) in &data {
            views.push((*name, TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(|e| Error::Weights(e.to_string()))?));
        }
        safetensors::serialize_to_file(views, None, path).map_err(|e| Error::Weights(e.to_string()))
    }
}

fn to_f32(name: &str, t: &TensorView<'_>) -> Result<Vec<f32>> {
    let bad = || Error::Weights(format!("`{name}` has dtype {:?}; BF16, F16 or F32 expected", t.dtype()));
    let mut out = vec![0.0; t.data().len() / element_bytes(t.dtype()).ok_or_else(bad)?];
    if !decode_into(t.dtype(), t.data(), &mut out) {
        return Err(bad());
    }
    Ok(out)
}

/// Bytes per element of the dtypes weights may be stored in (BF16, F16, F32); `None` for any other.
pub(crate) fn element_bytes(dtype: Dtype) -> Option<usize> {
    match dtype {
        Dtype::BF16 | Dtype::F16 => Some(2),
        Dtype::F32 => Some(4),
        _ => None,
    }
}

/// Decodes little-endian BF16, F16 or F32 `bytes` into `out` (exact: every value of these dtypes
/// is an f32). Returns false, leaving `out` untouched, for any other dtype or a length mismatch.
/// Shared by [`Weights::from_safetensors`] and the Hugging Face loader.
pub(crate) fn decode_into(dtype: Dtype, bytes: &[u8], out: &mut [f32]) -> bool {
    const CHUNK: usize = 1 << 16;
    let Some(size) = element_bytes(dtype) else { return false };
    if bytes.len() != out.len() * size {
        return false;
    }
    out.par_chunks_mut(CHUNK).zip(bytes.par_chunks(CHUNK * size)).for_each(|(o, b)| {
        let values = b.chunks_exact(size);
        match dtype {
            Dtype::F32 => o.iter_mut().zip(values).for_each(|(o, c)| *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            Dtype::BF16 => o.iter_mut().zip(values).for_each(|(o, c)| *o = bf16::from_le_bytes([c[0], c[1]]).to_f32()),
            _ => o.iter_mut().zip(values).for_each(|(o, c)| *o = f16::from_le_bytes([c[0], c[1]]).to_f32()),
        }
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::tests::small;

    #[test]
    fn safetensors_round_trip() {
        let cfg = small();
        let w = Weights::random(&cfg, 9);
        let path = std::env::temp_dir().join(format!("flashmoe-weights-{}.safetensors", std::process::id()));
        w.save_safetensors(&path, &cfg).unwrap();
        let back = Weights::from_safetensors(&path, &cfg).unwrap();
        assert_eq!(back, w);
        let wrong = MoeConfig { hidden: 128, ..cfg.clone() };
        assert!(matches!(Weights::from_safetensors(&path, &wrong), Err(Error::Weights(_))));
        // With a router bias: `gate.bias` [E] is written and read back, and refused by a config
        // without one.
        let routed = MoeConfig { router_bias: true, ..cfg.clone() };
        let wb = Weights::random(&routed, 9);
        wb.save_safetensors(&path, &routed).unwrap();
        assert_eq!(Weights::from_safetensors(&path, &routed).unwrap(), wb);
        let err = Weights::from_safetensors(&path, &cfg).unwrap_err().to_string();
        assert!(err.contains("`gate.bias`") && err.contains("router_bias = false"), "{err}");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn unused_tensors_are_rejected_by_name_unless_ignored() {
        let cfg = small(); // gated, biased
        let path = std::env::temp_dir().join(format!("flashmoe-extra-{}.safetensors", std::process::id()));
        Weights::random(&cfg, 3).save_safetensors(&path, &cfg).unwrap();
        let plain = MoeConfig { gated: false, bias: false, ..cfg.clone() };
        let err = Weights::from_safetensors(&path, &plain).unwrap_err().to_string();
        assert!(err.contains("`experts.b1`") && err.contains("not used"), "{err}");
        let w = Weights::from_safetensors_with(&path, &plain, Unused::Ignore).unwrap();
        assert!(w.w3.is_none() && w.b1.is_none());
        w.validate(&plain).unwrap();
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let r = Weights::from_safetensors(Path::new("/nonexistent/w.safetensors"), &small());
        assert!(matches!(r, Err(Error::Io(_))));
    }
}
