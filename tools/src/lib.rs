//! The tools around the flashmoe library: the `flashmoe` command line ([`cli`](mod@cli)) and the benchmark
//! sweeps with their baseline, tables, CSV and plots ([`bench`](mod@bench), the decode sweep in
//! [`decode`](mod@decode)), and the multi-process launcher
//! ([`launch`](mod@launch)). Kept out of the library so a
//! program that only wants `MoeLayer` compiles none of this.

pub mod bench;
pub mod cli;
pub mod decode;
pub mod launch;
pub mod power;
