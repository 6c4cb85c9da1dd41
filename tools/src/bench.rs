//! The benchmark sweeps of `flashmoe bench` / `cargo bench` beside the PyTorch + NCCL baseline
//! (tables, CSV, PNG plots), the bandwidth probes of `flashmoe info`, and the timeline digest.

use std::ffi::c_void;

use flashmoe::device::{Cluster, Gpu};
use flashmoe::driver::{DeviceBuffer, LaunchConfig, Stream};
use flashmoe::error::Result;
use flashmoe::timing::{MoeTiming, PEAK_TFLOPS, median, time_forward, time_runs};

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

/// One baseline measurement (PyTorch + NCCL, benches/baseline_torch.py), median ms per variant.
#[derive(Clone, Debug, Default)]
pub struct Baseline {
    pub grouped_ms: Option<f64>,
    pub loop_ms: Option<f64>,
}

impl Baseline {
    /// The faster variant: (name, ms).
    pub fn best(&self) -> Option<(&'static str, f64)> {
        match (self.grouped_ms, self.loop_ms) {
            (Some(g), Some(l)) if g <= l => Some(("grouped_mm", g)),
            (_, Some(l)) => Some(("loop", l)),
            (Some(g), None) => Some(("grouped_mm", g)),
            (None, None) => None,
        }
    }
}

/// A baseline request: the fields benches/baseline_torch.py reads (and echoes in its reply).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BaselineConfig {
    pub tokens: usize,
    pub experts: usize,
    pub hidden: usize,
    pub inter: usize,
    pub top_k: usize,
    pub world: usize,
    pub dtype: String,
    pub gated: bool,
}

/// One reply line of the baseline script: its request and the median ms of each variant.
#[derive(Debug, serde::Deserialize)]
struct BaselineReply {
    #[serde(flatten)]
    config: BaselineConfig,
    grouped: Option<f64>,
    #[serde(rename = "loop")]
    per_expert_loop: Option<f64>,
}

/// The baseline script, from the working directory (repo root, or the GPU bundle).
fn baseline_script() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("FLASHMOE_BASELINE") {
        return Some(p.into());
    }
    ["benches/baseline_torch.py", ".gpu/baseline_torch.py"].iter().map(std::path::PathBuf::from).find(|p| p.exists())
}

/// Matches the script's reply lines to the requests by their echoed fields (the script answers
/// grouped by GPU count, not in request order); a request with no reply gets no numbers.
fn match_replies(configs: &[BaselineConfig], stdout: &str) -> Vec<Baseline> {
    let replies: Vec<BaselineReply> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    configs
        .iter()
        .map(|c| {
            replies
                .iter()
                .find(|r| r.config == *c)
                .map_or_else(Baseline::default, |r| Baseline { grouped_ms: r.grouped, loop_ms: r.per_expert_loop })
        })
        .collect()
}

/// Runs the PyTorch baseline for `configs` in one python process (None when python3 + torch
/// are unavailable; a message says why).
pub fn run_baseline(configs: &[BaselineConfig]) -> Option<Vec<Baseline>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let script = baseline_script()?;
    let ok = Command::new("python3")
        .args(["-c", "import torch; assert torch.cuda.is_available()"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("baseline skipped: python3 with CUDA-enabled torch is not available");
        return None;
    }
    let request = serde_json::to_string(configs).ok()?;
    let mut child = Command::new("python3")
        .arg(&script)
        .env("NCCL_NVLS_ENABLE", "0")
        .env("NVSHMEM_DISABLE_NVLS", "1")
        .env("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(request.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        eprintln!("baseline failed with {}", out.status);
    }
    Some(match_replies(configs, &String::from_utf8_lossy(&out.stdout)))
}

/// Where benchmark files go: $FLASHMOE_BENCH_OUT, else $OUT (device runs), else target/flashmoe-bench.
pub fn output_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("FLASHMOE_BENCH_OUT")
        .or_else(|| std::env::var_os("OUT"))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "target/flashmoe-bench".into());
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Prints the table and writes `name.csv`: flashmoe vs the baseline measured in the same run.
pub fn report(name: &str, rows: &[(MoeTiming, Option<Baseline>)]) -> Result<()> {
    println!(
        "\n{:>4} {:>6} {:>4} {:>9} {:>9} {:>8} {:>7} {:>9} {:>11} {:>12} {:>8}",
        "gpus", "tokens", "E", "ms", "min ms", "TFLOP/s", "%peak", "floor ms", "% of floor", "baseline ms", "speedup"
    );
    let mut csv = String::from(
        "gpus,tokens_per_gpu,experts,ms_median,ms_min,tflops_per_gpu,pct_of_790,floor_ms,pct_of_floor,kept_rows,baseline_ms,baseline_variant,speedup\n",
    );
    for (t, b) in rows {
        let best = b.as_ref().and_then(|b| b.best());
        let speedup = best.map(|(_, ms)| ms / t.ms);
        println!(
            "{:>4} {:>6} {:>4} {:>9.3} {:>9.3} {:>8.1} {:>6.1}% {:>9.3} {:>10.1}% {:>12} {:>8}",
            t.world,
            t.tokens,
            t.experts,
            t.ms,
            t.ms_min,
            t.tflops_per_gpu,
            100.0 * t.tflops_per_gpu / PEAK_TFLOPS,
            t.floor_ms,
            100.0 * t.floor_ms / t.ms,
            best.map_or("-".into(), |(v, ms)| format!("{ms:.3} {}", if v == "loop" { "L" } else { "G" })),
            speedup.map_or("-".into(), |s| format!("{s:.2}x"))
        );
        csv += &format!(
            "{},{},{},{:.4},{:.4},{:.2},{:.2},{:.4},{:.2},{},{},{},{}\n",
            t.world,
            t.tokens,
            t.experts,
            t.ms,
            t.ms_min,
            t.tflops_per_gpu,
            100.0 * t.tflops_per_gpu / PEAK_TFLOPS,
            t.floor_ms,
            100.0 * t.floor_ms / t.ms,
            t.kept_rows,
            best.map_or(String::new(), |(_, ms)| format!("{ms:.4}")),
            best.map_or("", |(v, _)| v),
            speedup.map_or(String::new(), |s| format!("{s:.3}"))
        );
    }
    let path = output_dir().join(format!("{name}.csv"));
    std::fs::write(&path, csv)?;
    println!("(L = per-expert matmul loop, G = torch._grouped_mm; CSV: {})", path.display());
    Ok(())
}

/// Random exact inputs for every GPU of `layer`, written to its input buffers.
pub fn fill_inputs(layer: &flashmoe::MoeLayer, seed: u64) -> Result<()> {
    let cfg = layer.config();
    for r in 0..layer.cluster().len() {
        let mut rng = flashmoe::numeric::SplitMix64::new(seed ^ ((r as u64 + 1) * 0x9e37));
        let x = flashmoe::numeric::exact_values(&mut rng, cfg.tokens * cfg.hidden, 6);
        layer.input_buffer(r)?.write(0, &flashmoe::numeric::encode(cfg.dtype, &x))?;
    }
    Ok(())
}

/// The single-GPU sweep of the project: tokens x experts at H = I = 2048, k = 2, bf16, beside the
/// PyTorch baseline. One layer per expert count (built for the largest token count).
pub fn single_gpu_sweep(
    cluster: &Cluster,
    tokens: &[usize],
    experts: &[usize],
    warmup: usize,
    iters: usize,
) -> Result<Vec<(MoeTiming, Option<Baseline>)>> {
    let max_tokens = tokens.iter().copied().max().unwrap_or(1);
    let mut timings = Vec::new();
    for &e in experts {
        let cfg = flashmoe::MoeConfig { tokens: max_tokens, experts: e, ..flashmoe::MoeConfig::default() };
        let mut layer = flashmoe::MoeLayer::new(cluster, cfg.clone())?;
        layer.load_weights(&flashmoe::Weights::random(&cfg, 7))?;
        fill_inputs(&layer, 11)?;
        for &t in tokens {
            let timing = time_forward(&mut layer, t, warmup, iters)?;
            eprintln!("flashmoe T={t} E={e}: {:.3} ms", timing.ms);
            timings.push(timing);
        }
    }
    let configs: Vec<BaselineConfig> = timings
        .iter()
        .map(|t| BaselineConfig {
            tokens: t.tokens,
            experts: t.experts,
            hidden: 2048,
            inter: 2048,
            top_k: 2,
            world: 1,
            dtype: "bf16".into(),
            gated: false,
        })
        .collect();
    let baseline = run_baseline(&configs);
    Ok(timings.into_iter().enumerate().map(|(i, t)| (t, baseline.as_ref().map(|b| b[i].clone()))).collect())
}

/// One sweep of the multi-GPU benchmark: its points with the baseline of the same run.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub name: &'static str,
    pub title: &'static str,
    /// What varies along the sweep, and its value per point.
    pub x_label: &'static str,
    pub xs: Vec<f64>,
    pub rows: Vec<(MoeTiming, Option<Baseline>)>,
}

/// A point to measure: GPUs, tokens per GPU, experts.
#[derive(Clone, Copy, Debug)]
struct Point {
    gpus: usize,
    tokens: usize,
    experts: usize,
}

/// A planned sweep: name, title, x label, and (x, point) pairs.
type Plan = (&'static str, &'static str, &'static str, Vec<(f64, Point)>);

/// The sweeps of the multi-GPU issue on up to `max_gpus` GPUs (H = I = 2048, k = 2, bf16):
/// tokens 4K/8K/16K per GPU (E = 32); experts 8..128 at 16K tokens; weak scaling 1, 2, 4, 8 GPUs
/// at 8K tokens per GPU (E = 32); decode, 128 tokens per GPU, E = 64. Each point beside the
/// PyTorch + NCCL baseline of the same run.
pub fn multi_gpu_sweeps(max_gpus: usize, warmup: usize, iters: usize) -> Result<Vec<Sweep>> {
    let g = max_gpus;
    let mut plan: Vec<Plan> = vec![
        (
            "tokens",
            "Token scaling (E = 32)",
            "tokens per GPU",
            [4096, 8192, 16384].iter().map(|&t| (t as f64, Point { gpus: g, tokens: t, experts: 32 })).collect(),
        ),
        (
            "experts",
            "Expert scaling (16K tokens per GPU)",
            "experts",
            [8, 16, 32, 64, 128]
                .iter()
                .filter(|&&e| e % g == 0)
                .map(|&e| (e as f64, Point { gpus: g, tokens: 16384, experts: e }))
                .collect(),
        ),
        (
            "weak_scaling",
            "Weak scaling (8K tokens per GPU, E = 32)",
            "GPUs",
            [1, 2, 4, 8].iter().filter(|&&n| n <= g).map(|&n| (n as f64, Point { gpus: n, tokens: 8192, experts: 32 })).collect(),
        ),
        ("decode", "Decode (128 tokens per GPU, E = 64)", "GPUs", vec![(g as f64, Point { gpus: g, tokens: 128, experts: 64 })]),
        (
            "targets",
            "Issue targets (4K tokens per GPU, E = 128; 16K, E = 32)",
            "tokens per GPU",
            [(4096, 128), (16384, 32)]
                .iter()
                .filter(|&&(_, e)| e % g == 0)
                .map(|&(t, e)| (t as f64, Point { gpus: g, tokens: t, experts: e }))
                .collect(),
        ),
    ];
    plan.retain(|p| !p.3.is_empty());
    let points: Vec<Point> = plan.iter().flat_map(|p| p.3.iter().map(|x| x.1)).collect();
    let bar = indicatif::ProgressBar::new(points.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // One layer per (GPUs, experts), built for the most tokens it serves.
    let mut timings: Vec<Option<MoeTiming>> = vec![None; points.len()];
    let mut groups: Vec<(usize, usize)> = points.iter().map(|p| (p.gpus, p.experts)).collect();
    groups.sort_unstable();
    groups.dedup();
    for (gpus, experts) in groups {
        let max_tokens = points.iter().filter(|p| (p.gpus, p.experts) == (gpus, experts)).map(|p| p.tokens).max().unwrap_or(1);
        let cluster = Cluster::first(gpus)?;
        let cfg = flashmoe::MoeConfig { tokens: max_tokens, experts, ..flashmoe::MoeConfig::default() };
        let mut layer = flashmoe::MoeLayer::new(&cluster, cfg.clone())?;
        layer.load_weights(&flashmoe::Weights::random(&cfg, 7))?;
        fill_inputs(&layer, 11)?;
        for (i, p) in points.iter().enumerate() {
            if (p.gpus, p.experts) == (gpus, experts) && timings[i].is_none() {
                bar.set_message(format!("{} GPU(s), T={}, E={}", p.gpus, p.tokens, p.experts));
                let t = time_forward(&mut layer, p.tokens, warmup, iters)?;
                // Identical points of different sweeps share one measurement.
                for (j, q) in points.iter().enumerate() {
                    if (q.gpus, q.tokens, q.experts) == (p.gpus, p.tokens, p.experts) {
                        timings[j] = Some(t.clone());
                        bar.inc(1);
                    }
                }
            }
        }
    }
    bar.finish_with_message("flashmoe points measured; running the PyTorch + NCCL baseline");
    let configs: Vec<BaselineConfig> = points
        .iter()
        .map(|p| BaselineConfig {
            tokens: p.tokens,
            experts: p.experts,
            hidden: 2048,
            inter: 2048,
            top_k: 2,
            world: p.gpus,
            dtype: "bf16".into(),
            gated: false,
        })
        .collect();
    let baseline = run_baseline(&configs);
    let mut at = 0;
    let mut sweeps = Vec::new();
    for (name, title, x_label, xs) in plan {
        let mut rows = Vec::new();
        for _ in &xs {
            let t = timings[at].take().ok_or(flashmoe::Error::Weights("a sweep point was not measured".into()))?;
            rows.push((t, baseline.as_ref().map(|b| b[at].clone())));
            at += 1;
        }
        sweeps.push(Sweep { name, title, x_label, xs: xs.iter().map(|x| x.0).collect(), rows });
    }
    Ok(sweeps)
}

/// Overlap efficiency of a weak-scaling sweep: T(2 GPUs) / T(G) per point (None below 2 GPUs).
pub fn overlap_efficiency(sweep: &Sweep) -> Vec<Option<f64>> {
    let two = sweep.rows.iter().find(|r| r.0.world == 2).map(|r| r.0.ms);
    sweep.rows.iter().map(|r| two.filter(|_| r.0.world >= 2).map(|t2| t2 / r.0.ms)).collect()
}

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Draws a sweep as a PNG: latency of flashmoe and of the baseline against the swept value.
pub fn plot(sweep: &Sweep, path: &std::path::Path) -> Result<()> {
    use plotters::prelude::*;
    let err = |e: String| flashmoe::Error::Io(std::io::Error::other(e));
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    let ours: Vec<(f64, f64)> = sweep.xs.iter().zip(&sweep.rows).map(|(&x, r)| (x, r.0.ms)).collect();
    let base: Vec<(f64, f64)> =
        sweep.xs.iter().zip(&sweep.rows).filter_map(|(&x, r)| r.1.as_ref().and_then(|b| b.best()).map(|(_, ms)| (x, ms))).collect();
    let y_max = ours.iter().chain(&base).map(|p| p.1).fold(0.0, f64::max) * 1.15;
    let (x_min, x_max) = (sweep.xs.iter().cloned().fold(f64::INFINITY, f64::min), sweep.xs.iter().cloned().fold(0.0, f64::max));
    let pad = ((x_max - x_min) * 0.08).max(0.5);
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(sweep.title, ("sans-serif", 26))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d((x_min - pad)..(x_max + pad), 0.0..y_max.max(1e-3))
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(sweep.x_label)
        .y_desc("forward latency (ms)")
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    let blue = RGBColor(31, 119, 180);
    let orange = RGBColor(255, 127, 14);
    chart
        .draw_series(LineSeries::new(ours.clone(), blue.stroke_width(3)))
        .map_err(|e| err(e.to_string()))?
        .label("flashmoe (one persistent kernel)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(3)));
    chart.draw_series(ours.iter().map(|&p| Circle::new(p, 5, blue.filled()))).map_err(|e| err(e.to_string()))?;
    if !base.is_empty() {
        chart
            .draw_series(LineSeries::new(base.clone(), orange.stroke_width(3)))
            .map_err(|e| err(e.to_string()))?
            .label("PyTorch + NCCL baseline")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], orange.stroke_width(3)));
        chart.draw_series(base.iter().map(|&p| Circle::new(p, 5, orange.filled()))).map_err(|e| err(e.to_string()))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// Prints, writes CSV and PNG for every sweep, and the overlap efficiency of weak scaling.
pub fn report_sweeps(sweeps: &[Sweep]) -> Result<()> {
    for s in sweeps {
        println!("\n## {}", s.title);
        report(s.name, &s.rows)?;
        if s.name == "weak_scaling" {
            let eff = overlap_efficiency(s);
            let line: Vec<String> =
                s.rows.iter().zip(&eff).filter_map(|(r, e)| e.map(|e| format!("{} GPUs: {:.1}%", r.0.world, 100.0 * e))).collect();
            println!("overlap efficiency T(2)/T(G): {}", line.join(", "));
        }
        let png = output_dir().join(format!("{}.png", s.name));
        plot(s, &png)?;
        println!("plot: {}", png.display());
    }
    Ok(())
}

/// Every sweep: single GPU (tokens x experts), then, on a machine with several GPUs, the
/// multi-GPU sweeps over all of them. `quick`: a few single-GPU points only.
pub fn all_sweeps(quick: bool) -> Result<()> {
    let gpus = flashmoe::driver::init()?;
    let one = Cluster::first(1)?;
    let (tokens, experts): (&[usize], &[usize]) =
        if quick { (&[128, 4096], &[32, 64]) } else { (&[128, 1024, 4096, 16384], &[8, 32, 64, 128]) };
    println!("## Single GPU (H = I = 2048, k = 2, bf16)");
    let rows = single_gpu_sweep(&one, tokens, experts, 5, 20)?;
    report("single_gpu", &rows)?;
    drop(one);
    if gpus > 1 && !quick {
        report_sweeps(&multi_gpu_sweeps(gpus, 5, 20)?)?;
    }
    Ok(())
}

/// A readable digest of one GPU's timeline (see [`flashmoe::layout::timeline`]): when the phases
/// ended (us from the first block's start; median and last processor), how busy processors were.
pub fn timeline_summary(blocks: &[[u64; flashmoe::layout::timeline::SLOTS]]) -> String {
    use flashmoe::layout::timeline as tl;
    let t0 = blocks.iter().map(|b| b[tl::START]).filter(|&t| t > 0).min().unwrap_or(0);
    let us = |t: u64| if t >= t0 { (t - t0) as f64 / 1e3 } else { f64::NAN };
    let procs = &blocks[1.min(blocks.len())..];
    let stat = |slot: usize| {
        let v: Vec<f64> = procs.iter().map(|b| us(b[slot])).collect();
        (median(&v), v.iter().cloned().fold(f64::NAN, f64::max))
    };
    let mut s = String::new();
    for (name, slot) in [
        ("gate done", tl::GATE_DONE),
        ("barrier passed", tl::BARRIER_DONE),
        ("dispatch done", tl::DISPATCH_DONE),
        ("first task", tl::FIRST_TASK),
        ("last task end", tl::LAST_TASK),
        ("exit", tl::END),
    ] {
        let (m, x) = stat(slot);
        s += &format!("  {name:<15} median {m:>8.1} us   last {x:>8.1} us\n");
    }
    let os = &blocks[0];
    s += &format!(
        "  OS block: all dispatch pairs known {:.1} us, combine published {:.1} us, exits published {:.1} us\n",
        us(os[tl::DISPATCH_DONE]),
        us(os[tl::FIRST_TASK]),
        us(os[tl::LAST_TASK])
    );
    let tasks: u64 = procs.iter().map(|b| b[tl::TASKS]).sum();
    let busy: u64 = procs.iter().map(|b| b[tl::BUSY_NS]).sum();
    let waited: u64 = procs.iter().map(|b| b[tl::WAIT_NS]).sum();
    let span: u64 = procs.iter().map(|b| b[tl::END].saturating_sub(b[tl::BARRIER_DONE])).sum();
    s += &format!(
        "  processors: {tasks} tasks ({:.1} per block), {:.1} us per task, busy {:.0}% / waiting for tasks {:.0}% of the time after the barrier\n",
        tasks as f64 / procs.len().max(1) as f64,
        busy as f64 / tasks.max(1) as f64 / 1e3,
        100.0 * busy as f64 / span.max(1) as f64,
        100.0 * waited as f64 / span.max(1) as f64
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(world: usize, ms: f64) -> MoeTiming {
        MoeTiming { tokens: 8192, experts: 32, world, ms, ms_min: ms, kept_rows: 0, tflops_per_gpu: 0.0, floor_ms: 0.1 }
    }

    #[test]
    fn weak_scaling_efficiency_and_plot() {
        let rows = vec![
            (timing(1, 1.0), Some(Baseline { grouped_ms: Some(2.0), loop_ms: Some(3.0) })),
            (timing(2, 1.1), Some(Baseline { grouped_ms: None, loop_ms: Some(4.0) })),
            (timing(4, 1.25), None),
        ];
        let s = Sweep { name: "weak_scaling", title: "Weak scaling", x_label: "GPUs", xs: vec![1.0, 2.0, 4.0], rows };
        let eff = overlap_efficiency(&s);
        assert_eq!(eff[0], None);
        assert_eq!(eff[1], Some(1.0));
        assert!((eff[2].unwrap() - 0.88).abs() < 1e-12);
        assert_eq!(s.rows[0].1.as_ref().unwrap().best(), Some(("grouped_mm", 2.0)));
        assert_eq!(s.rows[1].1.as_ref().unwrap().best(), Some(("loop", 4.0)));
        let path = std::env::temp_dir().join(format!("flashmoe-plot-{}.png", std::process::id()));
        plot(&s, &path).unwrap();
        let png = std::fs::read(&path).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(png.len() > 5000, "a near-empty image: {} bytes", png.len());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn baseline_replies_match_their_requests_in_any_order() {
        let req = |world: usize, tokens: usize| BaselineConfig {
            tokens,
            experts: 32,
            hidden: 2048,
            inter: 2048,
            top_k: 2,
            world,
            dtype: "bf16".into(),
            gated: false,
        };
        let configs = [req(2, 8192), req(1, 8192), req(1, 128)];
        // The script answers grouped by GPU count, echoing each request; one has no `grouped`.
        let stdout = [
            r#"{"tokens": 8192, "experts": 32, "hidden": 2048, "inter": 2048, "top_k": 2, "world": 1, "dtype": "bf16", "gated": false, "grouped": 1.5, "loop": 2.5}"#,
            r#"{"tokens": 128, "experts": 32, "hidden": 2048, "inter": 2048, "top_k": 2, "world": 1, "dtype": "bf16", "gated": false, "grouped": null, "loop": 0.9}"#,
            "a line that is not JSON",
        ]
        .join("\n");
        let b = match_replies(&configs, &stdout);
        assert_eq!((b[0].grouped_ms, b[0].loop_ms), (None, None), "no reply for the 2-GPU request");
        assert_eq!((b[1].grouped_ms, b[1].loop_ms), (Some(1.5), Some(2.5)));
        assert_eq!((b[2].grouped_ms, b[2].loop_ms), (None, Some(0.9)));
        let sent: Vec<BaselineConfig> = serde_json::from_str(&serde_json::to_string(&configs).unwrap()).unwrap();
        assert_eq!(sent, configs);
    }
}
