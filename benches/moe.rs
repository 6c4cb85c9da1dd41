//! `cargo bench`: the benchmark sweeps, each point beside the PyTorch baseline measured in the same
//! run (CUDA events, 5 warm-up runs, median of 20). Writes CSV files next to the table.

fn main() -> std::process::ExitCode {
    // Cargo passes `--bench`; the sweeps take no other arguments.
    let cluster = match flashmoe::Cluster::first(1) {
        Ok(c) => c,
        Err(e) if e.is_no_gpu() => {
            eprintln!("benchmarks skipped: {e}");
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("flashmoe bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = flashmoe::bench::single_gpu_sweep(&cluster, &[128, 1024, 4096, 16384], &[8, 32, 64, 128], 5, 20)
        .and_then(|rows| flashmoe::bench::report("single_gpu", &rows));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flashmoe bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
