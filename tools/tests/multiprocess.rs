//! Multi-process mode (feature `nvshmem`): `flashmoe launch` starts one `flashmoe run` per GPU,
//! each on NVSHMEM's heap as its rank, and every rank's outputs must be bitwise those of the
//! single-process run over the same GPUs (`--gpus N`), with the f64 check passing in both. On
//! one GPU this runs with one process; on N >= 2 with 1 and N. Needs NVSHMEM_HOME (or
//! NVSHMEM_HOST_LIB); set NVSHMEM_DISABLE_NVLS=1 and NVSHMEM_REMOTE_TRANSPORT=none. FLASHMOE_BIN
//! names the CLI to run when the test binary was moved away from its build tree.
#![cfg(feature = "nvshmem")]

use std::collections::BTreeMap;
use std::process::Command;

/// `flashmoe` with `args` (under `flashmoe launch` when `procs` is Some): its exit status, its
/// output, and the output hash of every rank it printed.
fn flashmoe(procs: Option<usize>, args: &[String]) -> (bool, String, BTreeMap<usize, String>) {
    // FLASHMOE_BIN: the CLI where the test binary runs away from its build tree (a GPU machine).
    let exe = std::env::var("FLASHMOE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_flashmoe").to_string());
    let exe = exe.as_str();
    let mut cmd = Command::new(exe);
    if let Some(n) = procs {
        cmd.args(["launch", "--nproc-per-node", &n.to_string(), "--", exe]);
    }
    let out = cmd.args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let hashes = text
        .lines()
        .filter_map(|l| l.strip_prefix("output hash, rank "))
        .filter_map(|l| l.split_once(": "))
        .map(|(r, h)| (r.parse().unwrap(), h.trim().to_string()))
        .collect();
    (out.status.success(), text, hashes)
}

#[test]
#[ignore = "needs GPU"]
fn one_process_per_gpu_matches_the_single_process_run_bitwise() {
    let gpus = flashmoe::Cluster::all_local().expect("a GPU").len();
    let counts: Vec<usize> = if gpus >= 2 { vec![1, gpus] } else { vec![1] };
    for n in counts {
        for case in [
            // bf16, k = 2, capacity drops possible; gated SiLU with k = 4; decode.
            format!("--tokens 1000 --experts {} --top-k 2 --hidden 256 --inter 512", 8 * n),
            format!("--tokens 300 --experts {} --top-k 4 --hidden 256 --inter 320 --gated --activation silu --capacity-factor 0", 16 * n),
            format!("--tokens 1 --experts {} --top-k 2 --hidden 512 --inter 1024", 4 * n),
        ] {
            let mut args: Vec<String> = ["run", "--iters", "3", "--verify-tokens", "64"].map(String::from).to_vec();
            args.extend(case.split(' ').map(String::from));
            let (ok, text, multi) = flashmoe(Some(n), &args);
            assert!(ok && text.matches("PASS").count() == n, "{n} processes, {case}:\n{text}");
            args.extend(["--gpus".to_string(), n.to_string()]);
            let (ok, text, single) = flashmoe(None, &args);
            assert!(ok && text.contains("PASS"), "one process, {n} GPUs, {case}:\n{text}");
            assert_eq!(multi.len(), n, "{case}: {multi:?}");
            assert_eq!(multi, single, "{n} processes against one process on {n} GPUs, {case}");
            println!("{n} process(es), {case}: bitwise equal to the single-process run ({multi:?})");
        }
    }
}
