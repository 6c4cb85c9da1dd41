//! The `flashmoe` binary: see `flashmoe --help`.

fn main() -> std::process::ExitCode {
    flashmoe_tools::cli::main()
}
