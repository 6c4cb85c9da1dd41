//! `cargo bench`: every benchmark sweep (the same as `flashmoe bench`), each point beside the
//! PyTorch baseline measured in the same run (CUDA events, 5 warm-up runs, median of 20); tables
//! on stdout, CSV and PNG files in target/flashmoe-bench (or $FLASHMOE_BENCH_OUT).

fn main() -> std::process::ExitCode {
    // Cargo passes `--bench`; the sweeps take no arguments.
    match flashmoe_tools::bench::all_sweeps(false, None) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.is_no_gpu() => {
            eprintln!("benchmarks skipped: {e}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flashmoe bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
