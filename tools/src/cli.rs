//! The `flashmoe` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use std::time::Instant;

use clap::ValueEnum;

use crate::bench;
use flashmoe::Arch;
use flashmoe::config::{Activation, DType, MoeConfig, SharedExpert};
use flashmoe::device::Cluster;
use flashmoe::error::{Error, Result};
use flashmoe::hf::{LayerSpec, Layout};
use flashmoe::layer::MoeLayer;
use flashmoe::numeric::{self, SplitMix64};
use flashmoe::timing;
use flashmoe::tuning::{Mainloop, Tuning};
use flashmoe::verify;
use flashmoe::weights::Weights;

#[derive(Parser, Debug)]
#[command(name = "flashmoe", version, about = "FlashMoE: a whole MoE layer forward in one persistent GPU kernel")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

/// The layer shape and behaviour (defaults: the project's default layer), or one layer of a
/// Hugging Face model folder (`--hf DIR --layer N`).
#[derive(clap::Args, Debug, Clone)]
struct LayerArgs {
    /// A Hugging Face model folder (config.json + safetensors, sharded or not): run one of its
    /// mixture-of-experts layers (mixtral, qwen3_moe, olmoe, gpt_oss) with its shape, routing, activation
    /// and dtype, never dropping a token; --tokens still chooses T.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["hidden", "inter", "experts", "top_k", "dtype", "activation", "gated", "bias"])]
    hf: Option<PathBuf>,
    /// The decoder layer of --hf to run (default 0).
    #[arg(long, requires = "hf")]
    layer: Option<usize>,
    /// GPUs to use (the first N); default all.
    #[arg(long)]
    gpus: Option<usize>,
    /// Tokens per GPU.
    #[arg(long, default_value_t = 8192)]
    tokens: usize,
    /// Build the layer for this many tokens per GPU (its scratch, and its engine for large
    /// forwards) while the forwards carry --tokens: decode on a layer built for prefill.
    #[arg(long, value_name = "N")]
    max_tokens: Option<usize>,
    #[arg(long, default_value_t = 2048)]
    hidden: usize,
    #[arg(long, default_value_t = 2048)]
    inter: usize,
    #[arg(long, default_value_t = 64)]
    experts: usize,
    #[arg(long, default_value_t = 2)]
    top_k: usize,
    /// Capacity factor; 0 = never drop (default 1, or never drop with --hf). At 1 an expert keeps
    /// at most ceil(T·k/E) rows, so few-token runs never reach the multi-row paths a drop-less
    /// layer (or one built for more tokens than it decodes) takes.
    #[arg(long)]
    capacity_factor: Option<f64>,
    #[arg(long, value_enum, default_value_t = DTypeArg::Bf16)]
    dtype: DTypeArg,
    #[arg(long, value_enum, default_value_t = ActArg::Relu)]
    activation: ActArg,
    /// Gated experts (act(x·W1) * (x·W3)).
    #[arg(long)]
    gated: bool,
    /// Experts with biases.
    #[arg(long)]
    bias: bool,
    /// Random seed of weights and inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The PTX build (sm80 runs on Hopper too: what an A100 runs).
    #[arg(long, value_enum, default_value_t = ArchArg::Auto)]
    arch: ArchArg,
    /// The tile GEMM's main loop (mma-sync: the Ampere path on Hopper too, for A/B runs).
    #[arg(long, value_enum, default_value_t = MainloopArg::Auto)]
    mainloop: MainloopArg,
    /// Blocks that dispatch rows (default: the heuristics).
    #[arg(long)]
    dispatch_blocks: Option<u32>,
    /// K splits of the gate GEMM (default: the heuristics).
    #[arg(long)]
    gate_splits: Option<u32>,
    /// K splits of each GEMM1 task on the 128-thread engines (default: the heuristics; 1: none).
    #[arg(long)]
    gemm1_splits: Option<u32>,
    /// K splits of each GEMM0 task on the 128-thread engines (default: the heuristics; 1: none;
    /// a power of two up to 8).
    #[arg(long, value_name = "N")]
    gemm0_splits: Option<u32>,
    /// Take the lean decode kernel wherever it can run (at most 4 tokens, one GPU; A/B).
    #[arg(long, conflicts_with = "no_lean")]
    lean: bool,
    /// Never take the lean decode kernel or the sweep (A/B).
    #[arg(long)]
    no_lean: bool,
    /// The lean kernel's dense launch: every expert's items beside a routing block (A/B).
    #[arg(long, conflicts_with = "no_lean_dense")]
    lean_dense: bool,
    /// The lean kernel's routed launch: only the chosen experts' items (A/B).
    #[arg(long)]
    no_lean_dense: bool,
    /// The sweep wherever it can run (`moe_sweep_*`, three blocks an SM): the whole grid
    /// streams the chosen experts' weights (A/B).
    #[arg(long, conflicts_with = "no_lean_sweep")]
    lean_sweep: bool,
    /// Never take the sweep (A/B).
    #[arg(long)]
    no_lean_sweep: bool,
    /// At most this many persistent blocks per GPU (at least 2; for compute-sanitizer runs).
    #[arg(long, value_name = "N")]
    max_blocks: Option<u32>,
    /// Never run the static decode plan (one GPU, a few tokens: every block routes them itself,
    /// no dispatch or OS block), for A/B runs.
    #[arg(long)]
    no_static_plan: bool,
    /// Copy rows routed to a GPU's own experts in the dispatch (A/B; by default the heuristics
    /// decide: GEMM0 on the warp-specialized engine then reads them by TMA).
    #[arg(long, conflicts_with = "no_copy_local")]
    copy_local: bool,
    /// Never copy them in the dispatch (A/B): GEMM0 streams them, or with --no-stream-rows
    /// gathers them from the input.
    #[arg(long)]
    no_copy_local: bool,
    /// Let each row tile's first GEMM0 task copy its own rows for the tile's other tasks
    /// (warp-specialized engine; A/B, by default the heuristics decide).
    #[arg(long, conflicts_with = "no_stream_rows")]
    stream_rows: bool,
    /// Never stream own rows (A/B).
    #[arg(long)]
    no_stream_rows: bool,
    /// Queue a run of row tiles' GEMM1 tasks together (warp-specialized engine; A/B, by default
    /// the heuristics decide).
    #[arg(long, conflicts_with = "no_gemm1_runs")]
    gemm1_runs: bool,
    /// Queue each row tile's GEMM1 tasks as the tile finishes (A/B).
    #[arg(long)]
    no_gemm1_runs: bool,
    /// A shared expert of this intermediate width (a multiple of 64) added to every token
    /// (DeepSeek-V3 / Llama-4 style; gated, the layer's activation, no biases).
    #[arg(long, value_name = "N", conflicts_with = "hf")]
    shared_inter: Option<usize>,
    /// Scale the shared expert's output by sigmoid(x·g) (Qwen2-MoE's shared_expert_gate).
    #[arg(long, requires = "shared_inter")]
    shared_gate: bool,
    /// Bound on every wait inside the kernel, in ms (a wait past it fails the forward with a
    /// timeout naming what was awaited).
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// Multi-process mode: bound on the rendezvous and on each NVSHMEM set-up call (its
    /// initialisation, heap allocations, finalize), which wait for every rank, in seconds.
    #[arg(long, value_name = "S", default_value_t = 120)]
    setup_timeout_s: u64,
    /// Test hook: the dispatch never raises the tile-0 flag of this expert, so the forward must
    /// fail with a timeout on every rank (the multi-process failure test).
    #[arg(long, value_name = "EXPERT", hide = true)]
    inject_dropped_flag: Option<u32>,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum ArchArg {
    Auto,
    Sm90a,
    Sm80,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum MainloopArg {
    Auto,
    /// Warp-specialized blocks (producer + two wgmma consumers), sm_90a.
    Ws,
    /// wgmma on one-warpgroup blocks, sm_90a.
    Wgmma,
    MmaSync,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum DTypeArg {
    Bf16,
    F16,
    F32,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum ActArg {
    Relu,
    Gelu,
    Silu,
}

impl LayerArgs {
    fn config(&self) -> MoeConfig {
        MoeConfig {
            tokens: self.tokens,
            hidden: self.hidden,
            inter: self.inter,
            experts: self.experts,
            top_k: self.top_k,
            capacity_factor: self.capacity(Some(1.0)),
            activation: match self.activation {
                ActArg::Relu => Activation::Relu,
                ActArg::Gelu => Activation::Gelu,
                ActArg::Silu => Activation::Silu,
            },
            gated: self.gated,
            bias: self.bias,
            router_bias: false,
            renormalize: true,
            dtype: match self.dtype {
                DTypeArg::Bf16 => DType::Bf16,
                DTypeArg::F16 => DType::F16,
                DTypeArg::F32 => DType::F32,
            },
            shared: self.shared_inter.map(|inter| SharedExpert { inter, sigmoid_gate: self.shared_gate }),
            ..MoeConfig::default()
        }
    }

    /// The capacity factor given, 0 meaning none, else `default`.
    fn capacity(&self, default: Option<f64>) -> Option<f64> {
        match self.capacity_factor {
            None => default,
            Some(f) => (f > 0.0).then_some(f),
        }
    }

    /// The layer's configuration and, with --hf, the checkpoint it comes from (checked, weights
    /// not read yet).
    fn layer(&self) -> Result<(MoeConfig, Option<LayerSpec>)> {
        match &self.hf {
            None => Ok((self.config(), None)),
            Some(dir) => {
                let spec = LayerSpec::read(dir, self.layer.unwrap_or(0))?;
                let cfg = MoeConfig { capacity_factor: self.capacity(None), ..spec.config(self.tokens) };
                Ok((cfg, Some(spec)))
            }
        }
    }

    fn tuning(&self) -> Tuning {
        Tuning {
            arch: match self.arch {
                ArchArg::Auto => None,
                ArchArg::Sm90a => Some(Arch::Sm90a),
                ArchArg::Sm80 => Some(Arch::Sm80),
            },
            mainloop: match self.mainloop {
                MainloopArg::Auto => Mainloop::Auto,
                MainloopArg::Ws => Mainloop::WarpSpecialized,
                MainloopArg::Wgmma => Mainloop::Wgmma,
                MainloopArg::MmaSync => Mainloop::MmaSync,
            },
            copy_local: switch(self.copy_local, self.no_copy_local),
            stream_rows: switch(self.stream_rows, self.no_stream_rows),
            gemm1_runs: switch(self.gemm1_runs, self.no_gemm1_runs),
            dispatch_blocks: self.dispatch_blocks,
            gate_splits: self.gate_splits,
            gemm1_splits: self.gemm1_splits,
            gemm0_splits: self.gemm0_splits,
            static_plan: if self.no_static_plan { Some(false) } else { None },
            lean: switch(self.lean, self.no_lean),
            lean_sweep: switch(self.lean_sweep, self.no_lean_sweep),
            lean_dense: switch(self.lean_dense, self.no_lean_dense),
            max_blocks: self.max_blocks,
        }
    }

    fn cluster(&self) -> Result<Cluster> {
        match self.gpus {
            Some(n) => Cluster::first(n),
            None => Cluster::all_local(),
        }
    }
}

/// An A/B switch pair: `--x` forces it on, `--no-x` off, neither leaves the layer's choice.
fn switch(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The main job: one MoE layer on the GPUs, verified against the f64 reference on a sample of
    /// tokens, then timed (latency, TFLOP/s, % of peak).
    Run {
        #[command(flatten)]
        layer: LayerArgs,
        /// Timed forwards (after 5 warm-up ones).
        #[arg(long, default_value_t = 20)]
        iters: usize,
        /// Tokens checked against the reference.
        #[arg(long, default_value_t = 64)]
        verify_tokens: usize,
        /// Print where the time goes inside the kernel (per-block phase timestamps, GPU 0).
        #[arg(long)]
        timeline: bool,
    },
    /// Check one configuration against the f64 reference on every token; exit 1 on failure.
    Verify {
        #[command(flatten)]
        layer: LayerArgs,
    },
    /// The benchmark sweeps beside the PyTorch baseline (table + CSV).
    Bench {
        /// Fewer, smaller points (a quick look).
        #[arg(long)]
        quick: bool,
        /// Which sweeps: a comma list of single, gated (SwiGLU layers beside Liger-Kernel), multi,
        /// decode (T = 1..256 on one GPU: kernel and host-inclusive time, weight bandwidth), all
        /// (default: single,multi).
        #[arg(long)]
        sweeps: Option<String>,
    },
    /// One process per GPU with the torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK,
    /// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT): `flashmoe launch --nproc-per-node 4 -- CMD`.
    /// When one process fails the others are stopped; the exit code is the first failure's.
    Launch {
        #[arg(long)]
        nproc_per_node: usize,
        #[arg(long, default_value_t = 1)]
        nnodes: usize,
        #[arg(long, default_value_t = 0)]
        node_rank: usize,
        #[arg(long, default_value = "127.0.0.1")]
        master_addr: String,
        /// Default on one node: a free port.
        #[arg(long)]
        master_port: Option<u16>,
        /// The command each process runs.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// GPUs, SMs, memory, the peer-access matrix, and measured local / peer copy bandwidth.
    Info {
        /// MiB copied per bandwidth measurement.
        #[arg(long, default_value_t = 256)]
        mib: usize,
    },
}

/// Runs the CLI; errors become one line on stderr. Exit code 2 when there is no GPU.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // No subcommand: the main job, `run` with its defaults.
    let command = cli.command.or_else(|| Cli::parse_from(["flashmoe", "run"]).command);
    let result = match command.unwrap_or(Command::Info { mib: 256 }) {
        Command::Info { mib } => info(mib),
        Command::Launch { nproc_per_node, nnodes, node_rank, master_addr, master_port, command } => {
            let l = crate::launch::Launch { per_node: nproc_per_node, nodes: nnodes, node: node_rank, master_addr, master_port, command };
            return match crate::launch::run(&l) {
                Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
                Err(e) => {
                    eprintln!("flashmoe: error: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Run { layer, iters, verify_tokens, timeline } => run(&layer, iters, Some(verify_tokens), timeline),
        Command::Verify { layer } => run(&layer, 0, None, false),
        Command::Bench { quick, sweeps } => bench::all_sweeps(quick, sweeps.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_no_gpu() => {
            eprintln!("flashmoe: {e}; this command needs an NVIDIA GPU (sm_80 or sm_90) and its driver");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("flashmoe: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn info(mib: usize) -> Result<()> {
    let cluster = Cluster::all_local()?;
    for g in cluster.gpus() {
        println!(
            "GPU {}: {}, compute capability {}.{} ({} PTX), {} SMs, {:.1} GiB",
            g.ordinal,
            g.name,
            g.compute_capability.0,
            g.compute_capability.1,
            g.arch().name(),
            g.sms,
            g.memory_bytes as f64 / (1u64 << 30) as f64
        );
    }
    let n = cluster.len();
    println!("\npeer access (row GPU can write column GPU's memory):");
    println!("     {}", (0..n).map(|j| format!("{j:>4}")).collect::<String>());
    for (i, row) in cluster.peer_access().iter().enumerate() {
        let cells: String = row
            .iter()
            .enumerate()
            .map(|(j, &ok)| {
                format!(
                    "{:>4}",
                    if i == j {
                        "-"
                    } else if ok {
                        "yes"
                    } else {
                        "NO"
                    }
                )
            })
            .collect();
        println!("{i:>4} {cells}");
    }
    let bytes = mib << 20;
    let bw = bench::copy_bandwidths(&cluster, bytes, 10)?;
    println!(
        "\ncopy bandwidth, GB/s ({mib} MiB per copy, median of 10, CUDA events; diagonal = local copy counting read + write, off-diagonal = kernel on row GPU storing into column GPU):"
    );
    println!("     {}", (0..n).map(|j| format!("{j:>8}")).collect::<String>());
    for i in 0..n {
        let cells: String = bw.iter().filter(|b| b.from == cluster.gpus()[i].ordinal).map(|b| format!("{:>8.0}", b.gb_per_s)).collect();
        println!("{i:>4} {cells}");
    }
    // How much the weights' layout costs the decode path's reads: the same bytes, as the layer
    // stores them and tile-packed.
    let gpu = &cluster.gpus()[0];
    let full = 2 * gpu.sms;
    let (row_major, packed) = (
        bench::weight_read_bandwidth(gpu, bench::WeightLayout::RowMajor, bench::ReadFeed::CpAsync, full, 1 << 30, 10)?,
        bench::weight_read_bandwidth(gpu, bench::WeightLayout::TilePacked, bench::ReadFeed::CpAsync, full, 1 << 30, 10)?,
    );
    println!(
        "\nweight reads on GPU 0, GB/s (1 GiB of 128-row panels, rows of {} bytes, by 2 x 128-thread blocks per SM through a 4-stage cp.async pipeline, median of 10): row-major {row_major:.0}, tile-packed {packed:.0}",
        bench::PROBE_K_BYTES
    );
    // One block's own limit: the same row-major reads on fewer blocks, fed by every thread's
    // cp.async and a block barrier per tile (the decode mainloop), or through an mbarrier ring
    // (a producer-fed one) by one warp's 128-byte bulk copies or by one TMA box per tile; sm_90a
    // only for the ring.
    println!(
        "weight reads per block, GB/s (row-major, as above): blocks, cp.async + block barrier, 128-byte bulk copies + mbarriers, TMA boxes + mbarriers"
    );
    for blocks in [full, full / 2, full / 4, full / 8] {
        let per =
            |feed| bench::weight_read_bandwidth(gpu, bench::WeightLayout::RowMajor, feed, blocks, 1 << 30, 5).map(|gb| gb / blocks as f64);
        let cp_async = per(bench::ReadFeed::CpAsync)?;
        let show = |feed| match per(feed) {
            Ok(gb) => format!("{gb:.1}"),
            Err(e) => format!("n/a ({e})"),
        };
        println!("  {blocks:>4} {cp_async:>8.1} {:>8} {:>8}", show(bench::ReadFeed::Bulk), show(bench::ReadFeed::Tma));
    }
    Ok(())
}

/// Untimed forwards before `flashmoe run` times its `--iters`.
const RUN_WARMUP: usize = 5;

/// Builds, verifies and (with `iters` > 0) times one layer.
fn run(args: &LayerArgs, iters: usize, sample: Option<usize>, timeline: bool) -> Result<()> {
    // Checkpoint and shape errors first, on any machine (the GPU count is checked once the GPUs
    // are open).
    let (cfg, checkpoint) = args.layer()?;
    cfg.validate(1)?;
    // Anything only the f64 reference implements, before any GPU is opened.
    cfg.kernel_support()?;
    // Under a launcher (RANK etc. set): this process's GPU as its rank, on NVSHMEM's heap.
    #[cfg(feature = "nvshmem")]
    if let Some(p) = flashmoe::dist::Process::from_env(std::time::Duration::from_secs(args.setup_timeout_s))? {
        let scratch = p.scratch()?;
        let result = run_on(p.cluster(), Some(&scratch), cfg, checkpoint.as_ref(), args, iters, sample, timeline);
        drop(scratch);
        // Collective, like the heap's free above; skipped (an error) once a forward failed.
        // The forward's own error comes first.
        let finalized = p.finalize();
        return result.and(finalized);
    }
    #[cfg(not(feature = "nvshmem"))]
    if flashmoe::dist::DistEnv::from_process()?.is_some() {
        return Err(Error::Unavailable("multi-process mode (RANK etc. are set) needs the NVSHMEM build: cargo build --features nvshmem"));
    }
    let cluster = args.cluster()?;
    run_on(&cluster, None, cfg, checkpoint.as_ref(), args, iters, sample, timeline)
}

/// FNV-1a over the bits of a rank's outputs: equal hashes in single- and multi-process mode
/// mean bitwise-equal forwards.
fn output_hash(out: &[f32]) -> u64 {
    out.iter().flat_map(|v| v.to_bits().to_le_bytes()).fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// `flashmoe run` on `cluster` (all local GPUs, or this process's rank of a multi-process run).
#[allow(clippy::too_many_arguments)]
fn run_on(
    cluster: &Cluster,
    scratch: Option<&flashmoe::Scratch>,
    cfg: MoeConfig,
    checkpoint: Option<&LayerSpec>,
    args: &LayerArgs,
    iters: usize,
    sample: Option<usize>,
    timeline: bool,
) -> Result<()> {
    let (world, first) = (cluster.world_size(), cluster.first_rank());
    println!(
        "layer: T={} tokens/GPU x {world} GPU(s){}, H={} I={} E={} k={} {:?} {:?}{}{}{}{}{}, {}",
        cfg.tokens,
        if cluster.is_multi_process() { format!(" (this process: rank {first}, one process per GPU)") } else { String::new() },
        cfg.hidden,
        cfg.inter,
        cfg.experts,
        cfg.top_k,
        cfg.dtype,
        cfg.activation,
        if cfg.gated { " gated" } else { "" },
        if cfg.bias { " +bias" } else { "" },
        if cfg.router_bias { " +router bias" } else { "" },
        if cfg.renormalize { "" } else { ", top-k weights not renormalised" },
        match cfg.shared {
            Some(s) => format!(", shared expert Is={}{}", s.inter, if s.sigmoid_gate { " (sigmoid gate)" } else { "" }),
            None => String::new(),
        },
        match cfg.capacity_factor {
            Some(_) => format!("capacity {} per (GPU, expert)", cfg.capacity()),
            None => "no capacity limit (nothing dropped)".to_string(),
        }
    );
    let t = Instant::now();
    let weights = match checkpoint {
        Some(spec) => {
            let w = spec.load()?;
            println!(
                "weights: {} layer {} ({}, {} experts, renormalize = {}) read in {:.1} s",
                spec.dir().display(),
                spec.layer,
                spec.model_type,
                match spec.layout {
                    Layout::PerExpert => "per-expert",
                    Layout::Fused => "fused",
                    Layout::Interleaved => "interleaved gate/up",
                    Layout::Chunked => "chunked gate/up",
                },
                spec.renormalize,
                t.elapsed().as_secs_f64()
            );
            w
        }
        None => Weights::random(&cfg, args.seed),
    };
    let built = MoeConfig { tokens: args.max_tokens.map_or(cfg.tokens, |m| m.max(cfg.tokens)), ..cfg.clone() };
    if built.tokens != cfg.tokens {
        println!("layer built for T={} tokens/GPU; forwards carry T={}", built.tokens, cfg.tokens);
    }
    let mut builder = MoeLayer::builder(cluster, built).tuning(args.tuning());
    if let Some(s) = scratch {
        builder = builder.scratch(s);
    }
    if let Some(ms) = args.timeout_ms {
        builder = builder.timeout(std::time::Duration::from_millis(ms));
    }
    let mut layer = builder.build()?;
    layer.load_weights(&weights)?;
    layer.inject_dropped_dispatch_flag(args.inject_dropped_flag);
    // Every rank's inputs (the same in either mode); this process's GPUs take theirs.
    let mut rng = SplitMix64::new(args.seed ^ 0x1234);
    let per_rank = cfg.tokens * cfg.hidden;
    let x_all = numeric::exact_values(&mut rng, world * per_rank, 6);
    let x = &x_all[first * per_rank..(first + cluster.len()) * per_rank];
    let xs: Vec<Vec<f32>> = x.chunks(per_rank).map(|c| c.iter().map(|&v| v as f32).collect()).collect();
    let slices: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
    for r in 0..cluster.len() {
        layer.output_buffer(r)?.fill(0, cfg.tokens * cfg.hidden * cfg.dtype.bytes() as usize, numeric::NAN_BYTE)?;
    }
    let out = layer.forward(&slices)?;
    for (r, o) in out.iter().enumerate() {
        println!("output hash, rank {}: {:016x}", first + r, output_hash(o));
    }
    println!(
        "set-up and first forward: {:.1} s ({}{}, {} blocks per GPU, {} registers per thread, {}, {} MiB symmetric heap per GPU)",
        t.elapsed().as_secs_f64(),
        layer.kernel(0)?.name,
        match layer.own_rows(0)? {
            flashmoe::OwnRows::Gathered => "",
            flashmoe::OwnRows::Copied => " with own rows copied",
            flashmoe::OwnRows::Streamed => " with own rows streamed",
        },
        layer.grid(0)?,
        layer.kernel_registers(0)?,
        match layer.kernel_code(0)? {
            flashmoe::driver::Code::Cubin => "kernels as built (cubin)",
            flashmoe::driver::Code::Ptx => "kernels compiled by the driver (PTX)",
        },
        layer.heap_bytes() >> 20
    );
    let (entry, grid) = layer.kernel_for(0, cfg.tokens)?;
    if entry != layer.kernel(0)? {
        let why = if entry.mainloop == Some(flashmoe::entries::MainloopKind::Dots) {
            "the lean decode kernel, a plain launch for a few tokens of small experts"
        } else if entry.mainloop == Some(flashmoe::entries::MainloopKind::Sweep) {
            "the sweep, a few tokens of larger experts streamed by every SM at once"
        } else {
            "too few rows per expert for the layer's engine"
        };
        println!("forwards of T={} run {} ({grid} blocks per GPU): {why}", cfg.tokens, entry.name);
    }
    let v = verify::check(&layer, &weights, x, &out, cfg.tokens, sample, args.seed)?;
    println!(
        "verify: rel L2 error {:.3e} (bound {:.1e}) over {} tokens; {} pairs dropped by capacity; {} near-tie reroutes; {}",
        v.rel_err,
        verify::bound(cfg.dtype),
        v.tokens_checked,
        v.dropped,
        v.near_tie_mismatches,
        if v.passed(cfg.dtype) { "PASS".to_string() } else { format!("FAIL: {v:?}") }
    );
    if iters > 0 {
        // The clock and power of this process's first GPU while the forwards are timed.
        let sampler = cluster.gpus()[0]
            .context()
            .pci_bus_id()
            .map_err(|e| e.to_string())
            .and_then(|id| crate::power::Sampler::start(&id, std::time::Duration::from_millis(10)));
        let timing = timing::time_forward(&mut layer, cfg.tokens, RUN_WARMUP, iters);
        let power = sampler.map(|s| s.finish(RUN_WARMUP + iters));
        let timing = timing?;
        println!(
            "forward: median {:.3} ms (min {:.3}) over {iters} runs; {:.1} TFLOP/s per GPU = {:.1}% of {} TFLOP/s; floor {:.3} ms ({:.1}% of floor)",
            timing.ms,
            timing.ms_min,
            timing.tflops_per_gpu,
            100.0 * timing.tflops_per_gpu / timing::PEAK_TFLOPS,
            timing::PEAK_TFLOPS,
            timing.floor_ms,
            100.0 * timing.floor_ms / timing.ms
        );
        match power {
            Ok(report) => println!("power: {report}"),
            Err(why) => println!("power: not sampled: {why}"),
        }
    }
    if timeline {
        layer.record_timeline(true)?;
        layer.forward_device(cfg.tokens)?;
        if let Some(t) = layer.timeline(0)? {
            println!("timeline of one forward on GPU 0:\n{}", bench::timeline_summary(&t));
        }
        println!("{}", bench::queue_pairs_summary(&layer.queue(0)?));
    }
    if !v.passed(cfg.dtype) {
        return Err(Error::VerificationFailed(format!("{v:?}")));
    }
    Ok(())
}
