//! The `flashmoe` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::bench;
use crate::device::Cluster;
use crate::error::{Error, Result};

#[derive(Parser, Debug)]
#[command(name = "flashmoe", version, about = "FlashMoE: a whole MoE layer forward in one persistent GPU kernel")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
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
    let result = match cli.command.unwrap_or(Command::Info { mib: 256 }) {
        Command::Info { mib } => info(mib),
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
            g.ptx.arch,
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
    Ok(())
}

/// Exposed for tests: whether an error is the "no GPU" case.
pub fn exit_code_for(e: &Error) -> u8 {
    if e.is_no_gpu() { 2 } else { 1 }
}
