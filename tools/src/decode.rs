//! The decode sweep of `flashmoe bench --sweeps decode` (issue 11, item 4): few tokens on one GPU,
//! where the layer is bound by reading expert weights and by launch overhead, not by FLOPs.
//!
//! Points: T in {1, 8, 32, 128, 256} x E in {8, 64, 128} at the single-GPU defaults (H = I = 2048,
//! k = 2, bf16, ReLU, capacity factor 1), plus the Mixtral-size layer (H = 4096, I = 14336, E = 8,
//! k = 2, gated SiLU, nothing dropped) at T in {1, 8, 32, 128}. Per point: the kernel time (CUDA
//! events, [`time_forward`]), the host-inclusive time of `forward_device(T)` and of a replay of
//! the forward captured as a CUDA graph (`MoeLayer::capture(T)`, `replay`) on the host clock, the
//! achieved weight bandwidth from the routing the layer reports, and the full PyTorch layer of
//! the same run. CSV `decode.csv`, PNG `decode.png` (ms vs T, log x, one line per layer).

use std::time::Instant;

use flashmoe::device::Cluster;
use flashmoe::error::Result;
use flashmoe::timing::{MoeTiming, median, time_forward};
use flashmoe::{GpuRouting, MoeConfig};

use crate::bench::{Baseline, BaselineConfig, Shape, fill_inputs, output_dir, run_baseline};

/// H200 HBM3e peak bandwidth, bytes/s (NVIDIA's H200 datasheet: 4.8 TB/s). The decode sweep's
/// "% of HBM peak" divides the achieved weight bandwidth by it; the memory floor of
/// [`flashmoe::timing`] uses a more reachable 4.0 TB/s.
pub const H200_HBM_PEAK_BYTES_PER_S: f64 = 4.8e12;

/// Token counts of the decode sweep at the default expert shape.
pub const DECODE_TOKENS: [usize; 5] = [1, 8, 32, 128, 256];
/// Expert counts of the decode sweep at the default expert shape.
pub const DECODE_EXPERTS: [usize; 3] = [8, 64, 128];
/// Token counts of the Mixtral-size layer.
pub const MIXTRAL_TOKENS: [usize; 4] = [1, 8, 32, 128];

/// The Mixtral-size layer (H = 4096, I = 14336, E = 8, k = 2, gated SiLU, bf16, nothing
/// dropped), built for `tokens` tokens at most.
pub fn mixtral_config(tokens: usize) -> MoeConfig {
    MoeConfig {
        tokens,
        hidden: 4096,
        inter: 14336,
        experts: 8,
        top_k: 2,
        capacity_factor: None,
        activation: flashmoe::Activation::Silu,
        gated: true,
        dtype: flashmoe::DType::Bf16,
        ..MoeConfig::default()
    }
}

/// The layers of the decode sweep, each with the token counts it is timed at (ascending); one
/// layer per entry, built for its largest count: the default shape at every E of
/// [`DECODE_EXPERTS`], then the Mixtral-size layer.
pub fn decode_plan() -> Vec<(MoeConfig, Vec<usize>)> {
    let max = |t: &[usize]| t.iter().copied().max().unwrap_or(1);
    let mut plan: Vec<(MoeConfig, Vec<usize>)> = DECODE_EXPERTS
        .iter()
        .map(|&experts| (MoeConfig { tokens: max(&DECODE_TOKENS), experts, ..MoeConfig::default() }, DECODE_TOKENS.to_vec()))
        .collect();
    plan.push((mixtral_config(max(&MIXTRAL_TOKENS)), MIXTRAL_TOKENS.to_vec()));
    plan
}

/// Bytes of expert weights one expert reads in a forward: W1 [I, H] (and W3 [I, H] when gated)
/// and W2 [H, I] in the layer's dtype. Biases and the gate (E x H, read by every forward
/// whatever the routing) are not counted.
pub fn expert_weight_bytes(cfg: &MoeConfig) -> u64 {
    let mats = if cfg.gated { 3 } else { 2 };
    mats * cfg.hidden as u64 * cfg.inter as u64 * cfg.dtype.bytes() as u64
}

/// Experts with at least one kept (not dropped) row in `routing`: each reads all its weights once.
pub fn experts_touched(routing: &GpuRouting, experts: usize) -> usize {
    let mut used = vec![false; experts];
    for (&e, &slot) in routing.expert.iter().zip(&routing.slot) {
        if slot != flashmoe::layout::DROPPED
            && let Some(u) = used.get_mut(e as usize)
        {
            *u = true;
        }
    }
    used.iter().filter(|&&u| u).count()
}

/// Expected distinct experts among `picks` uniform independent picks of `experts`:
/// E·(1 − (1 − 1/E)^picks). For context beside the measured count (top-k picks of one token are
/// distinct, and a trained or random gate is not uniform, so this is an approximation).
pub fn expected_distinct_experts(experts: usize, picks: usize) -> f64 {
    if experts == 0 {
        return 0.0;
    }
    let e = experts as f64;
    e * (1.0 - (1.0 - 1.0 / e).powf(picks as f64))
}

/// Achieved bandwidth, bytes/s, of reading `bytes` in `ms` milliseconds (NaN for a non-positive time).
pub fn bytes_per_s(bytes: u64, ms: f64) -> f64 {
    if ms > 0.0 { bytes as f64 / (ms * 1e-3) } else { f64::NAN }
}

/// Runs `f` `warmup` times, then times `iters` calls one by one on the host clock; ms per call.
/// Each call must return only when its work is done (as `forward_device` does).
pub fn time_host_runs(warmup: usize, iters: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    for _ in 0..warmup {
        f()?;
    }
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t0 = Instant::now();
        f()?;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    Ok(times)
}

/// One point of the decode sweep.
#[derive(Clone, Debug)]
pub struct DecodeRow {
    pub shape: Shape,
    /// The kernel time (CUDA events around the launch, median and min) and the kept rows.
    pub timing: MoeTiming,
    /// Host-clock ms of one `forward_device(T)` call (launch, bounded wait, error check), median
    /// and min over the timed calls.
    pub host_ms: f64,
    pub host_ms_min: f64,
    /// Host-clock ms of one `replay` of the forward captured as a CUDA graph (set the node's
    /// parameters, launch, the same bounded wait and error check), median; None when the graph
    /// could not be captured or replayed on this device (the sweep says why).
    pub graph_ms: Option<f64>,
    /// Experts with at least one kept row in the last timed forward (see [`experts_touched`]).
    pub experts_touched: usize,
    /// Bytes of expert weights those experts read: touched x [`expert_weight_bytes`].
    pub weight_bytes: u64,
    pub top_k: usize,
    /// The full PyTorch layer of the same run (None: no python with torch).
    pub baseline: Option<Baseline>,
}

impl DecodeRow {
    /// Weight bytes over the kernel time, bytes/s.
    pub fn weight_bytes_per_s(&self) -> f64 {
        bytes_per_s(self.weight_bytes, self.timing.ms)
    }

    /// [`Self::weight_bytes_per_s`] as a percentage of [`H200_HBM_PEAK_BYTES_PER_S`].
    pub fn pct_of_hbm_peak(&self) -> f64 {
        100.0 * self.weight_bytes_per_s() / H200_HBM_PEAK_BYTES_PER_S
    }

    /// Expected distinct experts under uniform picks ([`expected_distinct_experts`] of T·k).
    pub fn experts_expected(&self) -> f64 {
        expected_distinct_experts(self.timing.experts, self.timing.tokens * self.top_k)
    }

    /// The layer this row belongs to, as a plot legend: "E = 64" or the Mixtral shape.
    pub fn series(&self) -> String {
        let default = Shape::of(&MoeConfig::default());
        if self.shape == default {
            format!("E = {}", self.timing.experts)
        } else {
            format!(
                "H={} I={} E={}{}",
                self.shape.hidden,
                self.shape.inter,
                self.timing.experts,
                if self.shape.gated { " SwiGLU" } else { "" }
            )
        }
    }
}

/// The columns of `decode.csv`, one row per point: the shape, the kernel time, the
/// host-inclusive time and its overhead over the kernel, the host-inclusive time of a graph
/// replay (empty when the graph failed), the weight accounting and bandwidth, then the full
/// PyTorch layer and the speedups over it (baseline ms / kernel ms, and / host ms).
pub const DECODE_CSV_HEADER: &str = "tokens,experts,hidden,inter,gated,top_k,kernel_ms,kernel_ms_min,host_ms,host_ms_min,host_overhead_us,graph_ms,\
kept_rows,experts_touched,experts_expected,weight_bytes,weight_gb_per_s,pct_of_hbm_peak,baseline_ms,baseline_variant,speedup_kernel,speedup_host";

/// The table (stdout) and the CSV text of the decode rows.
pub fn render_decode(rows: &[DecodeRow]) -> (String, String) {
    let opt = |v: Option<f64>, digits: usize| v.map_or(String::new(), |v| format!("{v:.digits$}"));
    let mut table = format!(
        "{:>6} {:>4} {:>5} {:>6} {:>6} {:>9} {:>9} {:>8} {:>8} {:>7} {:>7} {:>8} {:>6} {:>12} {:>8} {:>8}\n",
        "tokens",
        "E",
        "H",
        "I",
        "expert",
        "kernel ms",
        "host ms",
        "+host us",
        "graph ms",
        "experts",
        "(exp.)",
        "GB/s",
        "%HBM",
        "baseline ms",
        "x kernel",
        "x host"
    );
    let mut csv = format!("{DECODE_CSV_HEADER}\n");
    for r in rows {
        let t = &r.timing;
        let best = r.baseline.as_ref().and_then(|b| b.best());
        let speed_kernel = best.map(|(_, ms)| ms / t.ms);
        let speed_host = best.map(|(_, ms)| ms / r.host_ms);
        let overhead_us = (r.host_ms - t.ms) * 1e3;
        let gbs = r.weight_bytes_per_s() / 1e9;
        let x = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}x"));
        table += &format!(
            "{:>6} {:>4} {:>5} {:>6} {:>6} {:>9.3} {:>9.3} {:>8.1} {:>8} {:>7} {:>7.1} {:>8.0} {:>5.1}% {:>12} {:>8} {:>8}\n",
            t.tokens,
            t.experts,
            r.shape.hidden,
            r.shape.inter,
            if r.shape.gated { "swiglu" } else { "relu" },
            t.ms,
            r.host_ms,
            overhead_us,
            r.graph_ms.map_or("-".into(), |v| format!("{v:.3}")),
            r.experts_touched,
            r.experts_expected(),
            gbs,
            r.pct_of_hbm_peak(),
            best.map_or("-".into(), |(v, ms)| format!("{ms:.3} {}", if v == "loop" { "L" } else { "G" })),
            x(speed_kernel),
            x(speed_host)
        );
        csv += &format!(
            "{},{},{},{},{},{},{:.4},{:.4},{:.4},{:.4},{:.1},{},{},{},{:.2},{},{:.1},{:.2},{},{},{},{}\n",
            t.tokens,
            t.experts,
            r.shape.hidden,
            r.shape.inter,
            r.shape.gated,
            r.top_k,
            t.ms,
            t.ms_min,
            r.host_ms,
            r.host_ms_min,
            overhead_us,
            opt(r.graph_ms, 4),
            t.kept_rows,
            r.experts_touched,
            r.experts_expected(),
            r.weight_bytes,
            gbs,
            r.pct_of_hbm_peak(),
            best.map_or(String::new(), |(_, ms)| format!("{ms:.4}")),
            best.map_or("", |(v, _)| v),
            opt(speed_kernel, 3),
            opt(speed_host, 3)
        );
    }
    (table, csv)
}

/// Measures every point of [`decode_plan`] on the first GPU of `cluster`, then runs the PyTorch
/// baseline for all of them in one python process. Per point: [`time_forward`] (`warmup`, then
/// `iters` forwards timed with CUDA events), then `warmup` + `iters` host-timed `forward_device`
/// calls ([`time_host_runs`]), then `warmup` + `iters` host-timed replays of the forward captured
/// as a CUDA graph, then the routing of the last of them. A layer this GPU cannot build (memory,
/// limits) is skipped with a message; a graph that fails leaves its column empty, with a message.
pub fn decode_sweep(cluster: &Cluster, warmup: usize, iters: usize) -> Result<Vec<DecodeRow>> {
    let mut measured: Vec<(DecodeRow, MoeConfig)> = Vec::new();
    for (cfg, tokens) in decode_plan() {
        let what = format!("H={} I={} E={} k={}{}", cfg.hidden, cfg.inter, cfg.experts, cfg.top_k, if cfg.gated { " SwiGLU" } else { "" });
        let rows = (|| {
            let mut layer = flashmoe::MoeLayer::new(cluster, cfg.clone())?;
            layer.load_weights(&flashmoe::Weights::random(&cfg, 7))?;
            fill_inputs(&layer, 11)?;
            let mut rows = Vec::new();
            for &t in &tokens {
                let timing = time_forward(&mut layer, t, warmup, iters)?;
                let host = time_host_runs(warmup, iters, || layer.forward_device(t))?;
                let graph = layer.capture(t).and_then(|mut g| time_host_runs(warmup, iters, || layer.replay(&mut g)));
                let graph_ms = match graph {
                    Ok(times) => Some(median(&times)),
                    Err(e) if e.is_no_gpu() => return Err(e),
                    Err(e) => {
                        eprintln!("flashmoe decode T={t} {what}: graph replay failed: {e} (graph_ms left empty)");
                        None
                    }
                };
                let touched = experts_touched(&layer.routing(0, t)?, cfg.experts);
                let row = DecodeRow {
                    shape: Shape::of(&cfg),
                    host_ms: median(&host),
                    host_ms_min: host.iter().copied().fold(f64::INFINITY, f64::min),
                    graph_ms,
                    experts_touched: touched,
                    weight_bytes: touched as u64 * expert_weight_bytes(&cfg),
                    top_k: cfg.top_k,
                    baseline: None,
                    timing,
                };
                eprintln!(
                    "flashmoe decode T={t} {what}: kernel {:.3} ms, host {:.3} ms, graph {}, {touched} experts, {:.0} GB/s",
                    row.timing.ms,
                    row.host_ms,
                    row.graph_ms.map_or("-".into(), |v| format!("{v:.3} ms")),
                    row.weight_bytes_per_s() / 1e9
                );
                rows.push(row);
            }
            Ok::<_, flashmoe::Error>(rows)
        })();
        match rows {
            Ok(rows) => measured.extend(rows.into_iter().map(|r| (r, cfg.clone()))),
            Err(e) if e.is_no_gpu() => return Err(e),
            Err(e) => eprintln!("flashmoe decode {what}: skipped: {e}"),
        }
    }
    let configs: Vec<BaselineConfig> = measured.iter().map(|(r, cfg)| BaselineConfig::new(cfg, r.timing.tokens, 1)).collect();
    let baseline = run_baseline(&configs);
    Ok(measured
        .into_iter()
        .enumerate()
        .map(|(i, (mut r, _))| {
            r.baseline = baseline.as_ref().map(|b| b[i].clone());
            r
        })
        .collect())
}

/// Draws the decode sweep: kernel ms against T (log x), one solid line per layer (E, or the
/// Mixtral shape), the full PyTorch layer of the same points dashed in the same colour.
pub fn plot_decode(rows: &[DecodeRow], path: &std::path::Path) -> Result<()> {
    use plotters::prelude::*;
    let err = |e: String| flashmoe::Error::Io(std::io::Error::other(e));
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, crate::bench::FONT);
    let mut names: Vec<String> = Vec::new();
    for r in rows {
        if !names.contains(&r.series()) {
            names.push(r.series());
        }
    }
    let ours = |name: &str| -> Vec<(f64, f64)> {
        rows.iter().filter(|r| r.series() == name).map(|r| (r.timing.tokens as f64, r.timing.ms)).collect()
    };
    let base = |name: &str| -> Vec<(f64, f64)> {
        rows.iter()
            .filter(|r| r.series() == name)
            .filter_map(|r| r.baseline.as_ref().and_then(|b| b.best()).map(|(_, ms)| (r.timing.tokens as f64, ms)))
            .collect()
    };
    let all: Vec<(f64, f64)> = names.iter().flat_map(|n| ours(n).into_iter().chain(base(n))).collect();
    let y_max = all.iter().map(|p| p.1).fold(0.0, f64::max) * 1.15;
    let x_min = all.iter().map(|p| p.0).fold(f64::INFINITY, f64::min).min(1.0);
    let x_max = all.iter().map(|p| p.0).fold(1.0, f64::max);
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Decode, one GPU (k = 2, bf16): solid flashmoe kernel, dashed PyTorch", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d((x_min / 1.3..x_max * 1.3).log_scale(), 0.0..y_max.max(1e-3))
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("tokens (log scale)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("forward latency (ms)")
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    let palette = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40), RGBColor(148, 103, 189)];
    for (i, name) in names.iter().enumerate() {
        let c = palette[i % palette.len()];
        let pts = ours(name);
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(3)))
            .map_err(|e| err(e.to_string()))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 5, c.filled()))).map_err(|e| err(e.to_string()))?;
        let b = base(name);
        if !b.is_empty() {
            chart.draw_series(DashedLineSeries::new(b.clone(), 8, 6, c.stroke_width(2))).map_err(|e| err(e.to_string()))?;
            chart.draw_series(b.iter().map(|&p| Cross::new(p, 5, c.stroke_width(2)))).map_err(|e| err(e.to_string()))?;
        }
    }
    crate::bench::finish_plot(&mut chart, &root)
}

/// Prints the decode table, writes `decode.csv` and `decode.png` to [`output_dir`].
pub fn report_decode(rows: &[DecodeRow]) -> Result<()> {
    let (table, csv) = render_decode(rows);
    print!("\n{table}");
    let dir = output_dir();
    let path = dir.join("decode.csv");
    std::fs::write(&path, csv)?;
    println!(
        "(kernel = CUDA events around the launch, median; host = host clock around each forward_device(T) call, which launches \
and waits, median; +host us = host - kernel; graph = the same around each replay of the forward captured as a CUDA graph \
(MoeLayer::capture / replay), median; experts = experts with a kept row in the last forward, (exp.) = E·(1-(1-1/E)^(T·k)); \
GB/s = their W1{{,W3}},W2 bytes / kernel time, %HBM of {:.1} TB/s; baseline = full PyTorch layer, L = per-expert loop, \
G = torch._grouped_mm; x kernel / x host = baseline ms / flashmoe ms; CSV: {})",
        H200_HBM_PEAK_BYTES_PER_S / 1e12,
        path.display()
    );
    let png = dir.join("decode.png");
    plot_decode(rows, &png)?;
    println!("plot: {}", png.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tokens: usize, experts: usize, ms: f64, host_ms: f64, touched: usize, baseline: Option<Baseline>) -> DecodeRow {
        let cfg = MoeConfig { experts, ..MoeConfig::default() };
        DecodeRow {
            shape: Shape::of(&cfg),
            timing: MoeTiming {
                tokens,
                experts,
                world: 1,
                ms,
                ms_min: ms * 0.9,
                kept_rows: 2 * tokens,
                tflops_per_gpu: 0.0,
                floor_ms: 0.0,
            },
            host_ms,
            host_ms_min: host_ms,
            graph_ms: Some(host_ms - 0.004),
            experts_touched: touched,
            weight_bytes: touched as u64 * expert_weight_bytes(&cfg),
            top_k: 2,
            baseline,
        }
    }

    #[test]
    fn the_plan_covers_the_issue_points_with_valid_layers() {
        let plan = decode_plan();
        assert_eq!(plan.len(), 4);
        let points: Vec<(usize, usize, usize, bool)> =
            plan.iter().flat_map(|(c, ts)| ts.iter().map(move |&t| (t, c.experts, c.hidden, c.gated))).collect();
        assert_eq!(points.len(), 5 * 3 + 4);
        for e in [8, 64, 128] {
            for t in [1, 8, 32, 128, 256] {
                assert!(points.contains(&(t, e, 2048, false)), "T={t} E={e}");
            }
        }
        for t in [1, 8, 32, 128] {
            assert!(points.contains(&(t, 8, 4096, true)), "Mixtral T={t}");
        }
        for (c, ts) in &plan {
            assert_eq!(c.validate(1), Ok(()), "{c:?}");
            assert_eq!(c.tokens, *ts.iter().max().unwrap(), "each layer is built for its largest T");
            assert!(ts.windows(2).all(|w| w[0] < w[1]));
            assert_eq!((c.top_k, c.dtype), (2, flashmoe::DType::Bf16));
        }
        let default = MoeConfig::default();
        for (c, _) in &plan[..3] {
            assert_eq!((c.hidden, c.inter, c.gated, c.activation, c.capacity_factor), (2048, 2048, false, default.activation, Some(1.0)));
            assert_eq!(c.activation, flashmoe::Activation::Relu);
        }
        let m = &plan[3].0;
        assert_eq!((m.hidden, m.inter, m.experts, m.gated, m.activation), (4096, 14336, 8, true, flashmoe::Activation::Silu));
        assert_eq!(m.capacity(), m.tokens, "nothing dropped");
    }

    #[test]
    fn weight_accounting() {
        let relu = MoeConfig::default();
        assert_eq!(expert_weight_bytes(&relu), 2 * 2048 * 2048 * 2);
        assert_eq!(expert_weight_bytes(&mixtral_config(1)), 3 * 4096 * 14336 * 2);
        let f32 = MoeConfig { dtype: flashmoe::DType::F32, ..MoeConfig::default() };
        assert_eq!(expert_weight_bytes(&f32), 2 * 2048 * 2048 * 4);

        let d = flashmoe::layout::DROPPED;
        // Two tokens, k = 2: experts 3, 5, 3 and a dropped pick of 7 (not read), one id out of range.
        let r = GpuRouting { expert: vec![3, 5, 3, 7, 200], weight: vec![0.5; 5], slot: vec![0, 0, 1, d, 0] };
        assert_eq!(experts_touched(&r, 8), 2);
        let none = GpuRouting { expert: vec![1, 2], weight: vec![0.5; 2], slot: vec![d, d] };
        assert_eq!(experts_touched(&none, 8), 0);

        assert_eq!(expected_distinct_experts(8, 0), 0.0);
        assert!((expected_distinct_experts(8, 1) - 1.0).abs() < 1e-12);
        assert!((expected_distinct_experts(64, 2) - (2.0 - 1.0 / 64.0)).abs() < 1e-12);
        assert!((expected_distinct_experts(8, 512) - 8.0).abs() < 1e-9, "every expert at large T");
        assert_eq!(expected_distinct_experts(0, 4), 0.0);

        // 1 GB in 1 ms = 1 TB/s.
        assert!((bytes_per_s(1_000_000_000, 1.0) - 1e12).abs() < 1.0);
        assert!(bytes_per_s(1, 0.0).is_nan());
        // 2 experts of 16 MiB in 0.01 ms: 3.36 TB/s = 69.9% of 4.8 TB/s.
        let r = row(1, 64, 0.01, 0.02, 2, None);
        assert_eq!(r.weight_bytes, 2 * 16 * 1024 * 1024);
        assert!((r.weight_bytes_per_s() - 3.3554432e12).abs() < 1e3);
        assert!((r.pct_of_hbm_peak() - 69.904).abs() < 1e-2);
        assert!((r.experts_expected() - (2.0 - 1.0 / 64.0)).abs() < 1e-12);
    }

    #[test]
    fn host_runs_time_each_call_after_warmup() {
        let mut calls = 0;
        let times = time_host_runs(3, 4, || {
            calls += 1;
            std::thread::sleep(std::time::Duration::from_millis(2));
            Ok(())
        })
        .unwrap();
        assert_eq!(calls, 7);
        assert_eq!(times.len(), 4);
        assert!(times.iter().all(|&t| (2.0..1000.0).contains(&t)), "{times:?}");
        let mut n = 0;
        let e = time_host_runs(1, 5, || {
            n += 1;
            if n == 2 { Err(flashmoe::Error::Unavailable("boom")) } else { Ok(()) }
        });
        assert!(e.is_err() && n == 2, "an error stops the timing");
    }

    #[test]
    fn decode_table_csv_and_plot() {
        let b = Baseline { grouped_ms: Some(1.0), loop_ms: Some(0.8), ..Baseline::default() };
        let mut mix = row(8, 8, 0.5, 0.51, 4, Some(Baseline { grouped_ms: Some(2.0), ..Baseline::default() }));
        mix.shape = Shape::of(&mixtral_config(8));
        mix.weight_bytes = 4 * expert_weight_bytes(&mixtral_config(8));
        let mut rows =
            vec![row(1, 64, 0.05, 0.06, 2, Some(b.clone())), row(256, 64, 0.2, 0.21, 64, Some(b)), row(8, 8, 0.04, 0.05, 6, None), mix];
        rows[2].graph_ms = None;
        let (table, csv) = render_decode(&rows);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], DECODE_CSV_HEADER);
        let header: Vec<&str> = DECODE_CSV_HEADER.split(',').collect();
        assert_eq!(header.len(), 22);
        for l in &lines {
            assert_eq!(l.split(',').count(), header.len(), "{l}");
        }
        let col = |row: &str, name: &str| row.split(',').nth(header.iter().position(|h| *h == name).unwrap()).unwrap().to_string();
        let r = lines[1];
        assert_eq!(
            (col(r, "tokens"), col(r, "experts"), col(r, "gated"), col(r, "top_k")),
            ("1".into(), "64".into(), "false".into(), "2".into())
        );
        assert_eq!(col(r, "kernel_ms"), "0.0500");
        assert_eq!(col(r, "host_ms"), "0.0600");
        assert_eq!(col(r, "host_overhead_us"), "10.0");
        assert_eq!(col(r, "graph_ms"), "0.0560");
        assert_eq!(col(r, "experts_touched"), "2");
        assert_eq!(col(r, "experts_expected"), "1.98");
        assert_eq!(col(r, "weight_bytes"), (2u64 * 2 * 2048 * 2048 * 2).to_string());
        assert_eq!(col(r, "weight_gb_per_s"), "671.1");
        assert_eq!(col(r, "pct_of_hbm_peak"), "13.98");
        assert_eq!((col(r, "baseline_ms"), col(r, "baseline_variant")), ("0.8000".into(), "loop".into()));
        assert_eq!(col(r, "speedup_kernel"), "16.000");
        assert_eq!(col(r, "speedup_host"), "13.333");
        for name in ["baseline_ms", "baseline_variant", "speedup_kernel", "speedup_host"] {
            assert_eq!(col(lines[3], name), "", "{name} without a baseline");
        }
        assert_eq!(col(lines[3], "graph_ms"), "", "a graph that failed");
        assert_eq!(
            (col(lines[4], "hidden"), col(lines[4], "inter"), col(lines[4], "gated")),
            ("4096".into(), "14336".into(), "true".into())
        );
        assert_eq!(col(lines[4], "baseline_variant"), "grouped_mm");
        let t: Vec<&str> = table.lines().collect();
        assert_eq!(t.len(), 5);
        assert!(t[0].contains("kernel ms") && t[0].contains("host ms") && t[0].contains("graph ms") && t[0].contains("%HBM"), "{}", t[0]);
        assert!(t[1].contains("16.00x") && t[1].contains("13.33x") && t[1].contains("0.800 L") && t[1].contains(" 0.056 "), "{}", t[1]);
        assert!(t[4].contains("swiglu") && t[4].contains("14336"), "{}", t[4]);

        assert_eq!(rows[0].series(), "E = 64");
        assert_eq!(rows[3].series(), "H=4096 I=14336 E=8 SwiGLU");
        let path = std::env::temp_dir().join(format!("flashmoe-decode-plot-{}.png", std::process::id()));
        plot_decode(&rows, &path).unwrap();
        let png = std::fs::read(&path).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(png.len() > 5000, "a near-empty image: {} bytes", png.len());
        std::fs::remove_file(&path).unwrap();
    }
}
