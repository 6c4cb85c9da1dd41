//! Timing with CUDA events, and the bandwidth probes of `flashmoe info`.

use std::ffi::c_void;

use crate::device::{Cluster, Gpu};
use crate::driver::{DeviceBuffer, Event, LaunchConfig, Stream};
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

/// Launches the `copy_v4` kernel on `gpu`: `bytes` from `src` to `dst` (dst may be on a peer).
fn launch_copy(gpu: &Gpu, stream: &Stream, src: &DeviceBuffer, dst: &DeviceBuffer, bytes: usize) -> Result<()> {
    let f = gpu.function("copy_v4")?;
    let (mut s, mut d, mut n) = (src.ptr(), dst.ptr(), (bytes / 16) as u64);
    let mut args = [&mut s as *mut u64 as *mut c_void, &mut d as *mut u64 as *mut c_void, &mut n as *mut u64 as *mut c_void];
    let cfg = LaunchConfig { grid: gpu.sms * 4, block: 512, shared_bytes: 0 };
    // SAFETY: copy_v4(src, dst, n16) with both buffers holding `bytes`.
    unsafe { f.launch(stream, cfg, &mut args, false) }
}

/// One measured copy bandwidth.
#[derive(Clone, Debug)]
pub struct Bandwidth {
    pub from: usize,
    pub to: usize,
    /// GB/s counting bytes moved once (for local copies: read + write).
    pub gb_per_s: f64,
}

/// Local copy bandwidth of every GPU (bytes read + written) and write bandwidth of every ordered
/// pair (kernel on `from` storing into `to`), medians of `iters` runs of `bytes` each.
pub fn copy_bandwidths(cluster: &Cluster, bytes: usize, iters: usize) -> Result<Vec<Bandwidth>> {
    let gpus = cluster.gpus();
    let bufs = gpus
        .iter()
        .map(|g| Ok((DeviceBuffer::alloc(g.context(), bytes)?, DeviceBuffer::alloc(g.context(), bytes)?)))
        .collect::<Result<Vec<_>>>()?;
    for (a, _) in &bufs {
        a.fill(0, bytes, 0x3c)?;
    }
    let mut out = Vec::new();
    for (i, g) in gpus.iter().enumerate() {
        let stream = Stream::new(g.context())?;
        for j in 0..gpus.len() {
            let times = time_runs(&stream, 2, iters, || launch_copy(g, &stream, &bufs[i].0, &bufs[j].1, bytes))?;
            let moved = if i == j { 2 * bytes } else { bytes };
            out.push(Bandwidth { from: g.ordinal, to: gpus[j].ordinal, gb_per_s: moved as f64 / (median(&times) * 1e-3) / 1e9 });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
