//! Timing the layer with CUDA events: medians of many forwards, each the slowest GPU's time, and
//! the fraction of the hardware floor it reaches.

use crate::driver::{Event, Stream};
use crate::error::Result;

/// Median of a sample (NaN-free input).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}

/// Runs `f` `warmup` times, then times `iters` runs one by one with events on `stream`;
/// returns milliseconds per run.
pub fn time_runs(stream: &Stream, warmup: usize, iters: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    for _ in 0..warmup {
        f()?;
    }
    stream.synchronize()?;
    let ctx = stream.context();
    let (start, end) = (Event::new(ctx)?, Event::new(ctx)?);
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        start.record(stream)?;
        f()?;
        end.record(stream)?;
        times.push(start.elapsed_ms(&end)? as f64);
    }
    Ok(times)
}

/// Dense bf16 tensor-core peak of an H200 used for "% of peak" (measured, see docs/perf-log.md).
pub const PEAK_TFLOPS: f64 = 790.0;
/// Device-memory bandwidth used for the memory floor, bytes/s.
pub const HBM_BYTES_PER_S: f64 = 4.0e12;

/// One benchmark point of the fused kernel.
#[derive(Clone, Debug)]
pub struct MoeTiming {
    pub tokens: usize,
    pub experts: usize,
    pub world: usize,
    /// Median and minimum forward latency (slowest GPU), ms.
    pub ms: f64,
    pub ms_min: f64,
    /// Kept (routed, not dropped) rows, all GPUs together.
    pub kept_rows: usize,
    /// Useful FLOPs per GPU per second.
    pub tflops_per_gpu: f64,
    /// Floor of this forward on one GPU: max(FLOPs / peak, weight bytes / HBM bandwidth), ms.
    pub floor_ms: f64,
}

/// Times forwards of `tokens` per GPU on `layer` (inputs already in its buffers): `warmup`
/// untimed, then `iters` timed with CUDA events on every GPU; a forward's time is the slowest GPU's.
pub fn time_forward(layer: &mut crate::MoeLayer, tokens: usize, warmup: usize, iters: usize) -> Result<MoeTiming> {
    for _ in 0..warmup {
        layer.forward_device(tokens)?;
    }
    let world = layer.cluster().len();
    let events = (0..world)
        .map(|r| {
            let ctx = layer.cluster().gpus()[r].context();
            Ok((Event::new(ctx)?, Event::new(ctx)?))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        for (r, (s, _)) in events.iter().enumerate() {
            s.record(&*layer.stream(r)?)?;
        }
        layer.launch(tokens)?;
        for (r, (_, e)) in events.iter().enumerate() {
            e.record(&*layer.stream(r)?)?;
        }
        layer.wait()?;
        let mut worst = 0.0f64;
        for (s, e) in &events {
            worst = worst.max(s.elapsed_ms(e)? as f64);
        }
        times.push(worst);
    }
    let cfg = layer.config().clone();
    let mut kept = 0;
    let mut experts_used = vec![false; cfg.experts];
    for r in 0..world {
        let routing = layer.routing(r, tokens)?;
        for (i, &s) in routing.slot.iter().enumerate() {
            if s != flashmoe_kernels::layout::DROPPED {
                kept += 1;
                experts_used[routing.expert[i] as usize] = true;
            }
        }
    }
    let ms = median(&times);
    let flops_per_gpu = crate::MoeConfig { tokens, ..cfg.clone() }.flops(kept / world);
    let mats = if cfg.gated { 3 } else { 2 };
    let used = experts_used.iter().filter(|&&u| u).count() as f64 / world as f64;
    let weight_bytes = used * (mats * cfg.hidden * cfg.inter * cfg.dtype.bytes() as usize) as f64;
    let floor_ms = (flops_per_gpu / (PEAK_TFLOPS * 1e12)).max(weight_bytes / HBM_BYTES_PER_S) * 1e3;
    Ok(MoeTiming {
        tokens,
        experts: cfg.experts,
        world,
        ms,
        ms_min: times.iter().cloned().fold(f64::INFINITY, f64::min),
        kept_rows: kept,
        tflops_per_gpu: flops_per_gpu / (ms * 1e-3) / 1e12,
        floor_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
