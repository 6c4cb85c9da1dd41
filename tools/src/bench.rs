//! The benchmark sweeps of `flashmoe bench` / `cargo bench` beside the PyTorch + NCCL baseline
//! (tables, CSV, PNG plots), the bandwidth probes of `flashmoe info`, and the timeline digest.

use std::ffi::c_void;

use flashmoe::device::{Cluster, Gpu};
use flashmoe::driver::{DeviceBuffer, LaunchConfig, Stream, TensorMap};
use flashmoe::error::Result;
use flashmoe::layout::WEIGHT_BOX_COLS;
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

/// How the `read_tiles` probe lays out a panel of 128 weight rows (one GEMM task's weights).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLayout {
    /// `[rows][K]`, as the layer stores weights: a 128-row x 128-byte tile is 128 pieces, K bytes
    /// apart.
    RowMajor,
    /// Each 128-row x 128-byte tile contiguous, tiles in K order.
    TilePacked,
}

impl WeightLayout {
    /// (row stride, step between K tiles, step between panels) in bytes, for rows of `k_bytes`
    /// (a multiple of 128).
    pub const fn steps(self, k_bytes: u64) -> (u64, u64, u64) {
        match self {
            WeightLayout::RowMajor => (k_bytes, 128, 128 * k_bytes),
            WeightLayout::TilePacked => (128, 128 * 128, 128 * k_bytes),
        }
    }
}

/// Rows of the weight panels the probe reads (bytes): a Mixtral-size expert's W1 rows, H = 4096 bf16.
pub const PROBE_K_BYTES: u64 = 8192;

/// How the weight-read probe feeds its stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFeed {
    /// `read_tiles`: every thread's cp.async copies, a block barrier per tile (the decode
    /// mainloop's way).
    CpAsync,
    /// `read_tiles_bulk` (sm_90a): one warp's 128-byte bulk copies onto a full/empty mbarrier
    /// pair per stage, no block barrier.
    Bulk,
    /// `read_tiles_bulk` with a tensor map: one TMA box of 128 rows x 128 bytes per tile
    /// (row-major panels only).
    Tma,
}

/// DRAM read bandwidth (GB/s, median of `iters`) of `bytes` of weight panels in `layout`, read by
/// the probe `feed` on `blocks` 128-thread blocks (two per SM as the decode mainloop runs: 2 x
/// SMs; fewer show one block's own limit).
pub fn weight_read_bandwidth(gpu: &Gpu, layout: WeightLayout, feed: ReadFeed, blocks: u32, bytes: usize, iters: usize) -> Result<f64> {
    use flashmoe::entries::{READ_PROBE_STAGES, READ_PROBE_TILE_BYTES};
    if feed == ReadFeed::Tma && layout != WeightLayout::RowMajor {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, "the TMA read probe reads row-major panels only");
        return Err(flashmoe::Error::Io(e));
    }
    let (name, shared) = match feed {
        ReadFeed::CpAsync => ("read_tiles", READ_PROBE_STAGES * READ_PROBE_TILE_BYTES),
        ReadFeed::Bulk | ReadFeed::Tma => ("read_tiles_bulk", READ_PROBE_STAGES * (READ_PROBE_TILE_BYTES + 16)),
    };
    let f = gpu.function(name)?;
    f.set_max_dynamic_shared(shared)?;
    let cfg = LaunchConfig { grid: blocks, block: 128, shared_bytes: shared };
    let panels = (bytes as u64 / (128 * PROBE_K_BYTES)) as u32;
    let src = DeviceBuffer::alloc(gpu.context(), panels as usize * 128 * PROBE_K_BYTES as usize)?;
    src.fill(0, panels as usize * 128 * PROBE_K_BYTES as usize, 0x3c)?;
    let out = DeviceBuffer::alloc(gpu.context(), cfg.grid as usize * 128 * 4)?;
    let (row_stride, k_step, panel_step) = layout.steps(PROBE_K_BYTES);
    // The map describes row-major panels; without one the bulk probe copies rows.
    let map = match feed {
        ReadFeed::Tma => {
            let rows = panels as u64 * 128;
            Some(TensorMap::bf16_2d(gpu.context(), src.ptr(), rows, PROBE_K_BYTES / 2, PROBE_K_BYTES, 128, WEIGHT_BOX_COLS)?)
        }
        _ => None,
    };
    let map_ptr = map.as_ref().map_or(0, |m| m.device_ptr());
    let stream = Stream::new(gpu.context())?;
    let times = time_runs(&stream, 2, iters, || {
        let (mut s, mut n, mut k) = (src.ptr(), panels, (PROBE_K_BYTES / 128) as u32);
        let (mut rs, mut ks, mut ps, mut o, mut m) = (row_stride, k_step, panel_step, out.ptr(), map_ptr);
        let mut args = vec![
            &mut s as *mut u64 as *mut c_void,
            &mut n as *mut u32 as *mut c_void,
            &mut k as *mut u32 as *mut c_void,
            &mut rs as *mut u64 as *mut c_void,
            &mut ks as *mut u64 as *mut c_void,
            &mut ps as *mut u64 as *mut c_void,
            &mut o as *mut u64 as *mut c_void,
        ];
        if feed != ReadFeed::CpAsync {
            args.push(&mut m as *mut u64 as *mut c_void);
        }
        // SAFETY: the probe's arguments in order (read_tiles_bulk's last, the map, is 0 or a map
        // of every panel's rows); `src` holds `panels` panels and `out` 128 words per block.
        unsafe { f.launch(&stream, cfg, &mut args, false) }
    })?;
    // The bulk probe marks a wait it gave up on (its stages never filled) with u32::MAX.
    let mut folded = vec![0u32; cfg.grid as usize * 128];
    out.read(0, &mut folded)?;
    if folded.contains(&u32::MAX) {
        let e = std::io::Error::new(std::io::ErrorKind::TimedOut, format!("{name}: a stage's barrier wait gave up after 1 s"));
        return Err(flashmoe::Error::Io(e));
    }
    Ok(panels as f64 * 128.0 * PROBE_K_BYTES as f64 / (median(&times) * 1e-3) / 1e9)
}

/// One baseline measurement (PyTorch + NCCL, benches/baseline_torch.py, in the same run as
/// flashmoe's), median ms per variant; `None` where a variant could not run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Baseline {
    /// The whole unfused PyTorch layer (router, capacity drop, permute, expert GEMMs with
    /// torch._grouped_mm, weighted combine; NCCL all-to-alls on several GPUs).
    pub grouped_ms: Option<f64>,
    /// The same layer with one matmul pair per local expert.
    pub loop_ms: Option<f64>,
    /// One GPU: cuBLAS torch.bmm over perfectly balanced experts (ceil(T·k/E) rows each), GEMM0 +
    /// activation + GEMM1 only (no gate, gather or combine).
    pub ideal_ms: Option<f64>,
    /// One GPU: torch._grouped_mm on the routed rows, gathered and sorted by expert before
    /// timing, GEMM0 + activation + GEMM1 only.
    pub grouped_gemm_ms: Option<f64>,
    /// One GPU, gated (SwiGLU) layers: Liger-Kernel's fused MoE behind the torch router.
    pub liger_ms: Option<f64>,
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
/// Gated layers run SiLU(x·W1)·(x·W3) there, others ReLU.
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
    /// The layer's capacity factor; `None` (JSON null) never drops.
    #[serde(default)]
    pub capacity_factor: Option<f64>,
}

impl BaselineConfig {
    /// The request for `cfg` at `tokens` per GPU on `world` GPUs.
    pub fn new(cfg: &flashmoe::MoeConfig, tokens: usize, world: usize) -> Self {
        BaselineConfig {
            tokens,
            experts: cfg.experts,
            hidden: cfg.hidden,
            inter: cfg.inter,
            top_k: cfg.top_k,
            world,
            dtype: match cfg.dtype {
                flashmoe::DType::Bf16 => "bf16",
                flashmoe::DType::F16 => "f16",
                flashmoe::DType::F32 => "f32",
            }
            .into(),
            gated: cfg.gated,
            capacity_factor: cfg.capacity_factor,
        }
    }
}

/// One reply line of the baseline script: its request and the median ms of each variant (null
/// or absent: the variant could not run).
#[derive(Debug, serde::Deserialize)]
struct BaselineReply {
    #[serde(flatten)]
    config: BaselineConfig,
    #[serde(default)]
    grouped: Option<f64>,
    #[serde(default, rename = "loop")]
    per_expert_loop: Option<f64>,
    #[serde(default)]
    ideal: Option<f64>,
    #[serde(default)]
    grouped_gemm: Option<f64>,
    #[serde(default)]
    liger: Option<f64>,
}

impl BaselineReply {
    fn baseline(&self) -> Baseline {
        Baseline {
            grouped_ms: self.grouped,
            loop_ms: self.per_expert_loop,
            ideal_ms: self.ideal,
            grouped_gemm_ms: self.grouped_gemm,
            liger_ms: self.liger,
        }
    }
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
    configs.iter().map(|c| replies.iter().find(|r| r.config == *c).map_or_else(Baseline::default, BaselineReply::baseline)).collect()
}

/// Runs the PyTorch baseline for `configs` in one python process (None when python3 + torch
/// are unavailable; a message says why).
pub fn run_baseline(configs: &[BaselineConfig]) -> Option<Vec<Baseline>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let Some(script) = baseline_script() else {
        eprintln!("baseline skipped: no benches/baseline_torch.py here (run from the repository root or set FLASHMOE_BASELINE)");
        return None;
    };
    let ok = Command::new("python3")
        .args(["-c", "import torch; assert torch.cuda.is_available()"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("baseline skipped: python3 with CUDA-enabled torch is not available");
        return None;
    }
    let started = std::time::Instant::now();
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
    eprintln!("baseline: {} configuration(s) in {:.0} s", configs.len(), started.elapsed().as_secs_f64());
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

/// One benchmark point: flashmoe's timing and the baseline of the same run (None: no python).
pub type Row = (MoeTiming, Option<Baseline>);

/// The expert shape of a benchmark row (the CSV's `hidden`, `inter` and `gated` columns).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub hidden: usize,
    pub inter: usize,
    pub gated: bool,
}

impl Shape {
    pub fn of(cfg: &flashmoe::MoeConfig) -> Self {
        Shape { hidden: cfg.hidden, inter: cfg.inter, gated: cfg.gated }
    }
}

/// The columns of every sweep's CSV (one row per point): flashmoe's timing, the best full
/// PyTorch layer (`baseline_*`, `speedup` = baseline / flashmoe), then the GEMM-only references
/// of the same run and flashmoe's ms over each (below 1: flashmoe is faster), then the shape.
pub const CSV_HEADER: &str = "gpus,tokens_per_gpu,experts,ms_median,ms_min,tflops_per_gpu,pct_of_790,floor_ms,pct_of_floor,kept_rows,\
baseline_ms,baseline_variant,speedup,ideal_ms,grouped_gemm_ms,liger_ms,flashmoe_over_ideal,flashmoe_over_grouped_gemm,\
flashmoe_over_liger,hidden,inter,gated";

/// The table (stdout) and the CSV text of `rows`, each of shape `shapes[i]`.
fn render(rows: &[(MoeTiming, Option<Baseline>)], shapes: &[Shape]) -> (String, String) {
    let default = Shape::of(&flashmoe::MoeConfig::default());
    let show_shape = shapes.iter().any(|s| *s != default);
    let show_liger = shapes.iter().any(|s| s.gated) || rows.iter().any(|r| r.1.as_ref().is_some_and(|b| b.liger_ms.is_some()));
    let ms = |v: Option<f64>, w: usize| v.map_or(format!("{:>w$}", "-"), |v| format!("{v:>w$.3}"));
    let times = |v: Option<f64>, w: usize| v.map_or(format!("{:>w$}", "-"), |v| format!("{:>w$}", format!("{v:.2}x")));
    let csv_num = |v: Option<f64>, digits: usize| v.map_or(String::new(), |v| format!("{v:.digits$}"));
    let mut table = format!("{:>4} {:>6} {:>4}", "gpus", "tokens", "E");
    if show_shape {
        table += &format!(" {:>5} {:>6} {:>6}", "H", "I", "expert");
    }
    table += &format!(
        " {:>9} {:>9} {:>8} {:>7} {:>9} {:>11} {:>12} {:>8} {:>9} {:>8} {:>9} {:>8}",
        "ms", "min ms", "TFLOP/s", "%peak", "floor ms", "% of floor", "baseline ms", "speedup", "ideal ms", "fm/ideal", "gg ms", "fm/gg"
    );
    if show_liger {
        table += &format!(" {:>9} {:>8}", "liger ms", "fm/liger");
    }
    table.push('\n');
    let mut csv = format!("{CSV_HEADER}\n");
    for ((t, b), shape) in rows.iter().zip(shapes) {
        let best = b.as_ref().and_then(|b| b.best());
        let speedup = best.map(|(_, ms)| ms / t.ms);
        let of = |f: fn(&Baseline) -> Option<f64>| b.as_ref().and_then(f).filter(|&v| v > 0.0);
        let (ideal, gg, liger) = (of(|b| b.ideal_ms), of(|b| b.grouped_gemm_ms), of(|b| b.liger_ms));
        let over = |v: Option<f64>| v.map(|v| t.ms / v);
        table += &format!("{:>4} {:>6} {:>4}", t.world, t.tokens, t.experts);
        if show_shape {
            table += &format!(" {:>5} {:>6} {:>6}", shape.hidden, shape.inter, if shape.gated { "swiglu" } else { "relu" });
        }
        table += &format!(
            " {:>9.3} {:>9.3} {:>8.1} {:>6.1}% {:>9.3} {:>10.1}% {:>12} {:>8} {} {} {} {}",
            t.ms,
            t.ms_min,
            t.tflops_per_gpu,
            100.0 * t.tflops_per_gpu / PEAK_TFLOPS,
            t.floor_ms,
            100.0 * t.floor_ms / t.ms,
            best.map_or("-".into(), |(v, ms)| format!("{ms:.3} {}", if v == "loop" { "L" } else { "G" })),
            speedup.map_or("-".into(), |s| format!("{s:.2}x")),
            ms(ideal, 9),
            times(over(ideal), 8),
            ms(gg, 9),
            times(over(gg), 8)
        );
        if show_liger {
            table += &format!(" {} {}", ms(liger, 9), times(over(liger), 8));
        }
        table.push('\n');
        csv += &format!(
            "{},{},{},{:.4},{:.4},{:.2},{:.2},{:.4},{:.2},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
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
            csv_num(speedup, 3),
            csv_num(ideal, 4),
            csv_num(gg, 4),
            csv_num(liger, 4),
            csv_num(over(ideal), 3),
            csv_num(over(gg), 3),
            csv_num(over(liger), 3),
            shape.hidden,
            shape.inter,
            shape.gated
        );
    }
    (table, csv)
}

/// Prints the table and writes `name.csv`: flashmoe vs the baseline measured in the same run
/// (every row of the project's default expert shape, H = I = 2048, ReLU).
pub fn report(name: &str, rows: &[(MoeTiming, Option<Baseline>)]) -> Result<()> {
    report_shapes(name, rows, &vec![Shape::of(&flashmoe::MoeConfig::default()); rows.len()])
}

/// [`report`] for rows of any expert shapes (`shapes[i]` of `rows[i]`).
pub fn report_shapes(name: &str, rows: &[(MoeTiming, Option<Baseline>)], shapes: &[Shape]) -> Result<()> {
    let (table, csv) = render(rows, shapes);
    print!("\n{table}");
    let path = output_dir().join(format!("{name}.csv"));
    std::fs::write(&path, csv)?;
    println!(
        "(L = per-expert matmul loop, G = torch._grouped_mm: the full PyTorch layer; ideal = cuBLAS bmm over balanced experts, \
gg = torch._grouped_mm on the routed rows, both GEMMs + activation only; liger = Liger-Kernel fused MoE; fm/x = flashmoe ms / x ms; CSV: {})",
        path.display()
    );
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
        .map(|t| BaselineConfig::new(&flashmoe::MoeConfig { experts: t.experts, ..flashmoe::MoeConfig::default() }, t.tokens, 1))
        .collect();
    let baseline = run_baseline(&configs);
    Ok(timings.into_iter().enumerate().map(|(i, t)| (t, baseline.as_ref().map(|b| b[i].clone()))).collect())
}

/// The gated layers of Liger-Kernel's fused-MoE comparison, (H, I, E, k, T): SwiGLU, bf16, one
/// GPU, nothing dropped.
pub const LIGER_SHAPES: [(usize, usize, usize, usize, usize); 3] =
    [(2048, 2048, 32, 2, 16384), (2048, 2048, 64, 2, 8192), (4096, 14336, 8, 2, 4096)];

/// The layer configurations of [`LIGER_SHAPES`] (capacity factor `None`: `--capacity-factor 0`).
pub fn gated_configs() -> Vec<flashmoe::MoeConfig> {
    LIGER_SHAPES
        .iter()
        .map(|&(hidden, inter, experts, top_k, tokens)| flashmoe::MoeConfig {
            tokens,
            hidden,
            inter,
            experts,
            top_k,
            capacity_factor: None,
            activation: flashmoe::Activation::Silu,
            gated: true,
            dtype: flashmoe::DType::Bf16,
            ..flashmoe::MoeConfig::default()
        })
        .collect()
}

/// The gated single-GPU sweep ([`gated_configs`]) beside the same run's baseline, with Liger's
/// fused MoE where the python has `liger_kernel`. A configuration this GPU cannot build (memory,
/// limits) is skipped with a message.
pub fn gated_sweep(cluster: &Cluster, warmup: usize, iters: usize) -> Result<(Vec<Row>, Vec<Shape>)> {
    let mut measured = Vec::new();
    for cfg in gated_configs() {
        let what = format!("T={} H={} I={} E={} k={} SwiGLU", cfg.tokens, cfg.hidden, cfg.inter, cfg.experts, cfg.top_k);
        let timing = (|| {
            let mut layer = flashmoe::MoeLayer::new(cluster, cfg.clone())?;
            layer.load_weights(&flashmoe::Weights::random(&cfg, 7))?;
            fill_inputs(&layer, 11)?;
            time_forward(&mut layer, cfg.tokens, warmup, iters)
        })();
        match timing {
            Ok(t) => {
                eprintln!("flashmoe {what}: {:.3} ms", t.ms);
                measured.push((t, cfg));
            }
            Err(e) if e.is_no_gpu() => return Err(e),
            Err(e) => eprintln!("flashmoe {what}: skipped: {e}"),
        }
    }
    let configs: Vec<BaselineConfig> = measured.iter().map(|(t, cfg)| BaselineConfig::new(cfg, t.tokens, 1)).collect();
    let baseline = run_baseline(&configs);
    let shapes = measured.iter().map(|(_, cfg)| Shape::of(cfg)).collect();
    let rows = measured.into_iter().enumerate().map(|(i, (t, _))| (t, baseline.as_ref().map(|b| b[i].clone()))).collect();
    Ok((rows, shapes))
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
        .map(|p| BaselineConfig::new(&flashmoe::MoeConfig { experts: p.experts, ..flashmoe::MoeConfig::default() }, p.tokens, p.gpus))
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

pub(crate) static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

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
    finish_plot(&mut chart, &root)
}

/// Draws the legend every sweep plot has (upper left) and writes the image.
pub(crate) fn finish_plot<'a, DB, CT>(
    chart: &mut plotters::prelude::ChartContext<'a, DB, CT>,
    root: &plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
) -> Result<()>
where
    DB: plotters::prelude::DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate,
{
    use plotters::prelude::*;
    let err = |e: String| flashmoe::Error::Io(std::io::Error::other(e));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
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

/// The sweeps `flashmoe bench` can run, by the names `--sweeps` takes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Selection {
    /// `single`: tokens x experts on one GPU (H = I = 2048, ReLU), table `single_gpu`.
    pub single: bool,
    /// `gated`: the SwiGLU layers of the Liger comparison on one GPU, table `single_gpu_gated`.
    pub gated: bool,
    /// `multi`: the multi-GPU sweeps (on a machine with several GPUs).
    pub multi: bool,
    /// `decode`: few tokens on one GPU (T = 1..256, E = 8/64/128, and the Mixtral-size layer),
    /// kernel and host-inclusive time and weight bandwidth, table `decode` ([`crate::decode`]).
    pub decode: bool,
}

impl Selection {
    /// From `--sweeps` (`list`): a comma list of `single`, `gated`, `multi`, `decode`, or `all`;
    /// absent or empty: `single,multi` (`quick`: `single`). The gated and decode sweeps are
    /// opt-in: Liger's Triton autotuning alone can take minutes.
    pub fn parse(list: Option<&str>, quick: bool) -> Result<Selection> {
        let list = list.map(str::trim).filter(|v| !v.is_empty());
        let Some(list) = list else { return Ok(Selection { single: true, gated: false, multi: !quick, decode: false }) };
        let mut s = Selection::default();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "single" => s.single = true,
                "gated" => s.gated = true,
                "multi" => s.multi = true,
                "decode" => s.decode = true,
                "all" => s = Selection { single: true, gated: true, multi: true, decode: true },
                other => {
                    return Err(flashmoe::Error::Io(std::io::Error::other(format!(
                        "--sweeps: unknown sweep `{other}` (known: single, gated, multi, decode, all)"
                    ))));
                }
            }
        }
        Ok(s)
    }
}

/// The sweeps chosen by `sweeps` (see [`Selection::parse`]; by default the single-GPU sweep
/// (tokens x experts), then, on a machine with several GPUs, the multi-GPU sweeps over all of
/// them). `quick`: a few single-GPU points only.
pub fn all_sweeps(quick: bool, sweeps: Option<&str>) -> Result<()> {
    let sel = Selection::parse(sweeps, quick)?;
    let gpus = flashmoe::driver::init()?;
    let one = Cluster::first(1)?;
    if sel.single {
        let (tokens, experts): (&[usize], &[usize]) =
            if quick { (&[128, 4096], &[32, 64]) } else { (&[128, 1024, 4096, 8192, 16384], &[8, 32, 64, 128]) };
        println!("## Single GPU (H = I = 2048, k = 2, bf16, ReLU, capacity factor 1)");
        let rows = single_gpu_sweep(&one, tokens, experts, 5, 20)?;
        report("single_gpu", &rows)?;
    }
    if sel.gated {
        println!("\n## Single GPU, gated (SwiGLU, k = 2, bf16, nothing dropped): the Liger-Kernel comparison");
        let (rows, shapes) = gated_sweep(&one, 5, 20)?;
        report_shapes("single_gpu_gated", &rows, &shapes)?;
    }
    if sel.decode {
        println!(
            "\n## Decode, single GPU (T = 1..256 x E = 8/64/128 at H = I = 2048, ReLU, capacity factor 1; Mixtral-size H = 4096, I = 14336, E = 8, SwiGLU, nothing dropped; k = 2, bf16)"
        );
        let rows = crate::decode::decode_sweep(&one, 5, 20)?;
        crate::decode::report_decode(&rows)?;
    }
    drop(one);
    if sel.multi && gpus > 1 && !quick {
        report_sweeps(&multi_gpu_sweeps(gpus, 5, 20)?)?;
    }
    Ok(())
}

/// One line on a forward's task queue: of the slot pairs (2i, 2i + 1) holding GEMM tasks, how
/// many read one weight panel, the pairs a 2-block cluster claiming two slots at once could run
/// with their B stages multicast (perf log v42, Next).
pub fn queue_pairs_summary(tasks: &[flashmoe::layout::Task]) -> String {
    let [g0, g1] = flashmoe::layout::slot_pairs_sharing_panels(tasks);
    let pct = |(pairs, shared): (u32, u32)| 100.0 * shared as f64 / pairs.max(1) as f64;
    format!(
        "task queue on GPU 0: {} tasks; slot pairs (2i, 2i + 1) reading one weight panel: GEMM0 {} of {} ({:.0}%), GEMM1 {} of {} ({:.0}%)",
        tasks.len(),
        g0.1,
        g0.0,
        pct(g0),
        g1.1,
        g1.0,
        pct(g1)
    )
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
        ("logits done", tl::LOGITS_DONE),
        ("routing began", tl::ROUTE_BEGIN),
        ("routing done", tl::GATE_DONE),
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
        "  OS block: routing done {:.1} us, barrier passed {:.1} us, first flag seen {:.1} us, first tile published {:.1} us, all dispatch pairs known {:.1} us, combine published {:.1} us, exits published {:.1} us\n",
        us(os[tl::GATE_DONE]),
        us(os[tl::BARRIER_DONE]),
        us(os[tl::OS_FIRST_FLAG]),
        us(os[tl::OS_FIRST_TILE]),
        us(os[tl::DISPATCH_DONE]),
        us(os[tl::FIRST_TASK]),
        us(os[tl::LAST_TASK])
    );
    let tasks: u64 = procs.iter().map(|b| b[tl::TASKS]).sum();
    let busy: u64 = procs.iter().map(|b| b[tl::BUSY_NS]).sum();
    let waited: u64 = procs.iter().map(|b| b[tl::WAIT_NS]).sum();
    let span: u64 = procs.iter().map(|b| b[tl::END].saturating_sub(b[tl::BARRIER_DONE])).sum();
    let (start, end): (u64, u64) = procs.iter().fold((0, 0), |(s, e), b| (s + b[tl::WAIT_START_NS], e + b[tl::WAIT_END_NS]));
    s += &format!(
        "  processors: {tasks} tasks ({:.1} per block), {:.1} us per task, busy {:.0}% / waiting for tasks {:.0}% of the time after the barrier (ws: the producer's view, up to two tasks ahead of the consumers)\n",
        tasks as f64 / procs.len().max(1) as f64,
        busy as f64 / tasks.max(1) as f64 / 1e3,
        100.0 * busy as f64 / span.max(1) as f64,
        100.0 * waited as f64 / span.max(1) as f64
    );
    let per_block = |ns: u64| ns as f64 / procs.len().max(1) as f64 / 1e3;
    s += &format!(
        "  waiting per block: {:.1} us for the first two tasks, {:.1} us for combine or exit tasks, {:.1} us mid-run\n",
        per_block(start),
        per_block(end),
        per_block(waited.saturating_sub(start + end))
    );
    let (cmid, cend) =
        procs.iter().fold((0, 0), |(m, e), b| (m + (b[tl::CONSUMER_WAIT_NS] >> 32), e + (b[tl::CONSUMER_WAIT_NS] & 0xffff_ffff)));
    s += &format!(
        "  ws consumer 0 idle per block: {:.1} us waiting for a GEMM task (after its first), {:.1} us for combine or exit tasks\n",
        per_block(cmid),
        per_block(cend)
    );
    for (kind, name) in ["GEMM0 storing its rows", "GEMM0", "GEMM1"].iter().enumerate() {
        let [main, epilogue, finish, n] = procs.iter().fold([0u64; 4], |sum, b| {
            let laps = tl::task_laps(b, kind);
            [sum[0] + laps[0], sum[1] + laps[1], sum[2] + laps[2], sum[3] + laps[3]]
        });
        if n > 0 {
            let per_task = |ns: u64| ns as f64 / n as f64 / 1e3;
            s += &format!(
                "  ws consumer 0 per {name} task ({n}): mainloop {:.1} us, epilogue {:.1} us, finish {:.1} us\n",
                per_task(main),
                per_task(epilogue),
                per_task(finish)
            );
        }
    }
    let (boxed, all) =
        procs.iter().fold((0, 0), |(b, a), p| (b + (p[tl::STREAMED_SLICES] >> 32), a + (p[tl::STREAMED_SLICES] & 0xffff_ffff)));
    if all > 0 {
        s += &format!(
            "  streamed rows: the tasks reading them took {boxed} of {all} K slices ({:.0}%) by TMA, the rest gathered\n",
            100.0 * boxed as f64 / all as f64
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(world: usize, ms: f64) -> MoeTiming {
        MoeTiming { tokens: 8192, experts: 32, world, ms, ms_min: ms, kept_rows: 0, tflops_per_gpu: 0.0, floor_ms: 0.1 }
    }

    /// Both layouts read every 16-byte piece of the panels exactly once (the probe's addressing:
    /// panel, K tile, row `tid / 8 + 16 i`, chunk `tid % 8`).
    #[test]
    fn both_weight_layouts_read_every_byte_once() {
        let (k_bytes, panels) = (512u64, 3u64);
        for layout in [WeightLayout::RowMajor, WeightLayout::TilePacked] {
            let (row_stride, k_step, panel_step) = layout.steps(k_bytes);
            let mut seen = vec![0u32; (panels * 128 * k_bytes / 16) as usize];
            for p in 0..panels {
                for k in 0..k_bytes / 128 {
                    for tid in 0..128u64 {
                        for i in 0..8 {
                            let at = p * panel_step + k * k_step + (tid / 8 + 16 * i) * row_stride + (tid % 8) * 16;
                            seen[(at / 16) as usize] += 1;
                        }
                    }
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{layout:?}");
        }
    }

    #[test]
    fn weak_scaling_efficiency_and_plot() {
        let rows = vec![
            (timing(1, 1.0), Some(Baseline { grouped_ms: Some(2.0), loop_ms: Some(3.0), ..Baseline::default() })),
            (timing(2, 1.1), Some(Baseline { grouped_ms: None, loop_ms: Some(4.0), ..Baseline::default() })),
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
        let req =
            |world: usize, tokens: usize| BaselineConfig::new(&flashmoe::MoeConfig { experts: 32, ..Default::default() }, tokens, world);
        let gated = BaselineConfig::new(&gated_configs()[0], 16384, 1);
        let configs = [req(2, 8192), req(1, 8192), req(1, 128), gated.clone(), req(1, 4096)];
        assert_eq!(configs[1].capacity_factor, Some(1.0));
        assert_eq!((gated.hidden, gated.inter, gated.experts, gated.gated, gated.capacity_factor), (2048, 2048, 32, true, None));
        // The script answers grouped by GPU count, echoing each request; variants that could not
        // run are null or absent (an older script sends none of the one-GPU columns).
        let stdout = [
            r#"{"tokens": 8192, "experts": 32, "hidden": 2048, "inter": 2048, "top_k": 2, "world": 1, "dtype": "bf16", "gated": false, "capacity_factor": 1.0, "grouped": 1.5, "loop": 2.5, "ideal": 0.9, "grouped_gemm": 1.1, "liger": null, "liger_error": "not gated"}"#,
            r#"{"tokens": 128, "experts": 32, "hidden": 2048, "inter": 2048, "top_k": 2, "world": 1, "dtype": "bf16", "gated": false, "capacity_factor": 1.0, "grouped": null, "loop": 0.9, "ideal": 0.2, "grouped_gemm": null, "grouped_gemm_error": "torch._grouped_mm is not available in this torch", "liger": null}"#,
            "baseline: a note that is not JSON",
            r#"{"tokens": 16384, "experts": 32, "hidden": 2048, "inter": 2048, "top_k": 2, "world": 1, "dtype": "bf16", "gated": true, "capacity_factor": null, "grouped": 4.0, "loop": 5.0, "ideal": 2.5, "grouped_gemm": 3.0, "liger": 3.5}"#,
            // Same shape as the request but dropping (capacity 1): not its reply.
            r#"{"tokens": 16384, "experts": 32, "hidden": 2048, "inter": 2048, "top_k": 2, "world": 1, "dtype": "bf16", "gated": true, "capacity_factor": 1.0, "grouped": 9.0, "loop": 9.0, "liger": 9.0}"#,
            r#"{"tokens": 4096, "experts": 32, "hidden": 2048, "inter": 2048, "top_k": 2, "world": 1, "dtype": "bf16", "gated": false, "capacity_factor": 1.0, "grouped": 0.7, "loop": 0.8}"#,
        ]
        .join("\n");
        let b = match_replies(&configs, &stdout);
        assert_eq!(b[0], Baseline::default(), "no reply for the 2-GPU request");
        assert_eq!(
            b[1],
            Baseline { grouped_ms: Some(1.5), loop_ms: Some(2.5), ideal_ms: Some(0.9), grouped_gemm_ms: Some(1.1), liger_ms: None }
        );
        assert_eq!(b[2], Baseline { loop_ms: Some(0.9), ideal_ms: Some(0.2), ..Baseline::default() });
        assert_eq!(
            b[3],
            Baseline { grouped_ms: Some(4.0), loop_ms: Some(5.0), ideal_ms: Some(2.5), grouped_gemm_ms: Some(3.0), liger_ms: Some(3.5) }
        );
        assert_eq!(b[4], Baseline { grouped_ms: Some(0.7), loop_ms: Some(0.8), ..Baseline::default() });
        let sent: Vec<BaselineConfig> = serde_json::from_str(&serde_json::to_string(&configs).unwrap()).unwrap();
        assert_eq!(sent, configs);
        let json = serde_json::to_string(&gated).unwrap();
        assert!(json.contains(r#""capacity_factor":null"#) && json.contains(r#""gated":true"#), "{json}");
    }

    #[test]
    fn table_and_csv_carry_the_reference_columns_and_ratios() {
        let full = Baseline { grouped_ms: Some(3.0), loop_ms: Some(4.0), ideal_ms: Some(1.6), grouped_gemm_ms: Some(2.5), liger_ms: None };
        let rows = vec![(timing(1, 2.0), Some(full)), (timing(1, 1.0), Some(Baseline::default())), (timing(1, 1.0), None)];
        let relu = Shape::of(&flashmoe::MoeConfig::default());
        let (table, csv) = render(&rows, &[relu; 3]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], CSV_HEADER);
        let header: Vec<&str> = CSV_HEADER.split(',').collect();
        assert_eq!(header.len(), 22);
        let col = |row: &str, name: &str| row.split(',').nth(header.iter().position(|h| *h == name).unwrap()).unwrap().to_string();
        for l in &lines {
            assert_eq!(l.split(',').count(), header.len(), "{l}");
        }
        assert_eq!(col(lines[1], "ms_median"), "2.0000");
        assert_eq!(col(lines[1], "baseline_ms"), "3.0000");
        assert_eq!(col(lines[1], "baseline_variant"), "grouped_mm");
        assert_eq!(col(lines[1], "speedup"), "1.500");
        assert_eq!(col(lines[1], "ideal_ms"), "1.6000");
        assert_eq!(col(lines[1], "grouped_gemm_ms"), "2.5000");
        assert_eq!(col(lines[1], "liger_ms"), "");
        assert_eq!(col(lines[1], "flashmoe_over_ideal"), "1.250");
        assert_eq!(col(lines[1], "flashmoe_over_grouped_gemm"), "0.800");
        assert_eq!(col(lines[1], "flashmoe_over_liger"), "");
        assert_eq!(
            (col(lines[1], "hidden"), col(lines[1], "inter"), col(lines[1], "gated")),
            ("2048".into(), "2048".into(), "false".into())
        );
        for l in &lines[2..] {
            for name in ["baseline_ms", "speedup", "ideal_ms", "grouped_gemm_ms", "flashmoe_over_ideal", "flashmoe_over_grouped_gemm"] {
                assert_eq!(col(l, name), "", "{name} in {l}");
            }
        }
        // The default shape: no shape or liger columns in the table.
        let t: Vec<&str> = table.lines().collect();
        assert!(t[0].starts_with("gpus") && t[0].contains("ideal ms") && t[0].contains("fm/gg") && !t[0].contains("liger"), "{}", t[0]);
        assert!(t[1].contains("1.25x") && t[1].contains("0.80x") && t[1].contains("1.50x"), "{}", t[1]);
        assert!(t[1..].iter().all(|l| l.starts_with("   1 ")), "rows start like the gpu-check filter expects: {table}");

        // Gated rows: shape and liger columns.
        let liger = Baseline { liger_ms: Some(4.0), ..Baseline::default() };
        let shapes: Vec<Shape> = gated_configs().iter().map(Shape::of).collect();
        let (table, csv) = render(&[(timing(1, 2.0), Some(liger))], &shapes[2..]);
        let row = csv.lines().nth(1).unwrap();
        assert_eq!(col(row, "liger_ms"), "4.0000");
        assert_eq!(col(row, "flashmoe_over_liger"), "0.500");
        assert_eq!((col(row, "hidden"), col(row, "inter"), col(row, "gated")), ("4096".into(), "14336".into(), "true".into()));
        assert!(
            table.lines().next().unwrap().contains("fm/liger")
                && table.contains("14336")
                && table.contains("swiglu")
                && table.contains("0.50x"),
            "{table}"
        );
    }

    #[test]
    fn the_liger_configs_are_valid_gated_layers_that_never_drop() {
        let cfgs = gated_configs();
        assert_eq!(cfgs.len(), 3);
        for c in &cfgs {
            assert_eq!(c.validate(1), Ok(()), "{c:?}");
            assert!(c.gated && c.activation == flashmoe::Activation::Silu && c.dtype == flashmoe::DType::Bf16 && c.top_k == 2);
            assert_eq!(c.capacity_factor, None);
            assert_eq!(c.capacity(), c.tokens, "nothing dropped");
        }
        let shapes: Vec<_> = cfgs.iter().map(|c| (c.hidden, c.inter, c.experts, c.tokens)).collect();
        assert_eq!(shapes, [(2048, 2048, 32, 16384), (2048, 2048, 64, 8192), (4096, 14336, 8, 4096)]);
    }

    #[test]
    fn sweep_selection() {
        let s = |single, gated, multi| Selection { single, gated, multi, decode: false };
        assert_eq!(Selection::parse(None, false).unwrap(), s(true, false, true));
        assert_eq!(Selection::parse(Some(" "), false).unwrap(), s(true, false, true));
        assert_eq!(Selection::parse(None, true).unwrap(), s(true, false, false));
        assert_eq!(Selection::parse(Some("gated"), false).unwrap(), s(false, true, false));
        assert_eq!(Selection::parse(Some("single, gated"), false).unwrap(), s(true, true, false));
        assert_eq!(Selection::parse(Some("all"), false).unwrap(), Selection { decode: true, ..s(true, true, true) });
        assert_eq!(Selection::parse(Some("decode"), true).unwrap(), Selection { decode: true, ..s(false, false, false) });
        assert_eq!(Selection::parse(Some("single,decode"), false).unwrap(), Selection { decode: true, ..s(true, false, false) });
        let e = Selection::parse(Some("single,gatd"), false).unwrap_err().to_string();
        assert!(e.contains("gatd") && e.contains("known") && e.contains("decode"), "{e}");
    }
}
