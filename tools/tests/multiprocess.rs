//! Multi-process mode (feature `nvshmem`): `flashmoe launch` starts one `flashmoe run` per GPU,
//! each on NVSHMEM's heap as its rank, and every rank's outputs must be bitwise those of the
//! single-process run over the same GPUs (`--gpus N`), with the f64 check passing in both. On
//! one GPU this runs with one process; on N >= 2 with 1 and N, and N again with NVSHMEM puts
//! between the ranks instead of stores (`FLASHMOE_TRANSPORT=put`, the inter-node path forced
//! inside one node). Needs NVSHMEM_HOME (or
//! NVSHMEM_HOST_LIB); set NVSHMEM_DISABLE_NVLS=1 and NVSHMEM_REMOTE_TRANSPORT=none. FLASHMOE_BIN
//! names the CLI to run when the test binary was moved away from its build tree.
#![cfg(feature = "nvshmem")]

use std::collections::BTreeMap;
use std::process::Command;

/// The CLI: FLASHMOE_BIN where the test binary runs away from its build tree (a GPU machine).
fn exe() -> String {
    std::env::var("FLASHMOE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_flashmoe").to_string())
}

/// `flashmoe` with `args` (under `flashmoe launch` when `procs` is Some, its ranks reaching each
/// other by `transport`): its exit status, its output, and the output hash of every rank it
/// printed.
fn flashmoe(procs: Option<usize>, transport: &str, args: &[String]) -> (bool, String, BTreeMap<usize, String>) {
    let exe = exe();
    let exe = exe.as_str();
    let mut cmd = Command::new(exe);
    cmd.env("FLASHMOE_TRANSPORT", transport);
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
    let runs: Vec<(usize, &str)> = if gpus >= 2 { vec![(1, "auto"), (gpus, "auto"), (gpus, "put")] } else { vec![(1, "auto")] };
    for (n, transport) in runs {
        for case in [
            // bf16, k = 2, capacity drops possible; the same with 256 rows per expert (the
            // warp-specialized engine); gated SiLU with k = 4; decode.
            format!("--tokens 1000 --experts {} --top-k 2 --hidden 256 --inter 512", 8 * n),
            format!("--tokens 2048 --experts {} --top-k 2 --hidden 256 --inter 512", 8 * n),
            format!("--tokens 300 --experts {} --top-k 4 --hidden 256 --inter 320 --gated --activation silu --capacity-factor 0", 16 * n),
            format!("--tokens 1 --experts {} --top-k 2 --hidden 512 --inter 1024", 4 * n),
        ] {
            let mut args: Vec<String> = ["run", "--iters", "3", "--verify-tokens", "64"].map(String::from).to_vec();
            args.extend(case.split(' ').map(String::from));
            // Puts keep the 128-thread engine (the engines' bits differ): so does the reference.
            if transport == "put" {
                args.extend(["--mainloop", "wgmma"].map(String::from));
            }
            let (ok, text, multi) = flashmoe(Some(n), transport, &args);
            assert!(ok && text.matches("PASS").count() == n, "{n} processes ({transport}), {case}:\n{text}");
            args.extend(["--gpus".to_string(), n.to_string()]);
            let (ok, text, single) = flashmoe(None, "auto", &args);
            assert!(ok && text.contains("PASS"), "one process, {n} GPUs, {case}:\n{text}");
            assert_eq!(multi.len(), n, "{case}: {multi:?}");
            assert_eq!(multi, single, "{n} processes ({transport}) against one process on {n} GPUs, {case}");
            println!("{n} process(es), transport {transport}, {case}: bitwise equal to the single-process run ({multi:?})");
        }
    }
}

/// A dropped dispatch flag in multi-process mode: the expert's owner (rank 0) fails with a typed
/// timeout naming the flag, and every other rank's forward fails too, either with its own
/// timeout or stopped by the abort of a rank that timed out (`Error::PeerFailed` naming that
/// rank; before that error existed, such a rank returned success with its output unwritten).
/// Well within the bound, and every process exits on its own. The ranks are started here, not
/// by `flashmoe launch`, which would stop the others at the first failure.
#[test]
#[ignore = "needs GPU"]
fn a_dropped_flag_fails_every_rank_and_names_the_cause() {
    let n = flashmoe::Cluster::all_local().expect("a GPU").len();
    dropped_flag(n, "auto");
    if n >= 2 {
        // The abort then reaches the other ranks as NVSHMEM stores.
        dropped_flag(n, "put");
    }
}

fn dropped_flag(n: usize, transport: &str) {
    let exe = exe();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let experts = (4 * n).to_string();
    let args = ["run", "--tokens", "256", "--experts", &experts, "--hidden", "128", "--inter", "128", "--iters", "0"];
    let started = std::time::Instant::now();
    let mut ranks: Vec<_> = (0..n)
        .map(|r| {
            Command::new(&exe)
                .args(args)
                .args(["--timeout-ms", "300", "--inject-dropped-flag", "1"])
                .env("FLASHMOE_TRANSPORT", transport)
                .envs([("RANK", r.to_string()), ("LOCAL_RANK", r.to_string()), ("WORLD_SIZE", n.to_string())])
                .envs([("LOCAL_WORLD_SIZE", n.to_string()), ("MASTER_ADDR", "127.0.0.1".into()), ("MASTER_PORT", port.clone())])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Set-up (NVSHMEM init, weights) included; a hang would blow through this.
    let limit = std::time::Duration::from_secs(90);
    while ranks.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
        if started.elapsed() > limit {
            ranks.iter_mut().for_each(|c| drop(c.kill()));
            panic!("a rank did not exit within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let texts: Vec<String> = ranks
        .into_iter()
        .enumerate()
        .map(|(r, c)| {
            let out = c.wait_with_output().unwrap();
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(!out.status.success(), "rank {r} succeeded with a dropped flag:\n{text}");
            text
        })
        .collect();
    let timed_out: Vec<usize> = (0..n).filter(|&r| texts[r].contains("timed out")).collect();
    assert!(!timed_out.is_empty(), "no rank timed out:\n{}", texts.join("\n"));
    for (r, text) in texts.iter().enumerate() {
        let line = text.lines().find(|l| l.contains("timed out") || timed_out.iter().any(|t| l.contains(&format!("GPU rank {t} failed"))));
        assert!(line.is_some(), "rank {r} neither timed out nor named a rank that did:\n{text}");
        println!("transport {transport}, rank {r}: {}", line.unwrap_or_default());
    }
}

/// A rank that dies mid-run (killed between forwards of its timing loop): every other rank's
/// next forward fails with a typed timeout naming what it waited for, and the rank exits on its
/// own well within the bound: after the timeout NVSHMEM's collectives (the heap's free,
/// finalize), which would wait for the dead rank forever, are skipped. Needs 2 GPUs.
#[test]
#[ignore = "needs GPU"]
fn a_rank_that_dies_fails_the_others_with_a_timeout_and_nothing_hangs() {
    let n = flashmoe::Cluster::all_local().expect("a GPU").len();
    if n < 2 {
        println!("skipped: needs 2 GPUs, {n} here");
        return;
    }
    let exe = exe();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let dir = std::env::temp_dir().join(format!("flashmoe-rank-death-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = |r: usize| dir.join(format!("rank{r}.log"));
    let experts = (4 * n).to_string();
    // Forwards enough for minutes: every rank is still in its timing loop when one is killed.
    let args = ["run", "--tokens", "64", "--experts", &experts, "--hidden", "128", "--inter", "128", "--iters", "10000000"];
    let mut ranks: Vec<_> = (0..n)
        .map(|r| {
            let out = std::fs::File::create(log(r)).unwrap();
            Command::new(&exe)
                .args(args)
                .args(["--timeout-ms", "300"])
                .envs([("RANK", r.to_string()), ("LOCAL_RANK", r.to_string()), ("WORLD_SIZE", n.to_string())])
                .envs([("LOCAL_WORLD_SIZE", n.to_string()), ("MASTER_ADDR", "127.0.0.1".into()), ("MASTER_PORT", port.clone())])
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap()
        })
        .collect();
    let text = |r: usize| std::fs::read_to_string(log(r)).unwrap_or_default();
    let started = std::time::Instant::now();
    let stop = |ranks: &mut Vec<std::process::Child>, why: String| -> ! {
        ranks.iter_mut().for_each(|c| drop(c.kill()));
        panic!("{why}:\n{}", (0..n).map(|r| format!("rank {r}:\n{}", text(r))).collect::<String>());
    };
    // Every rank verified its first forward (so all are in the timing loop), or failed.
    while !(0..n).all(|r| text(r).contains("verify:")) {
        if started.elapsed() > std::time::Duration::from_secs(90) || ranks.iter_mut().any(|c| c.try_wait().unwrap().is_some()) {
            stop(&mut ranks, "the ranks did not reach their timing loops".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let victim = n - 1;
    ranks[victim].kill().unwrap();
    ranks[victim].wait().unwrap();
    let killed = std::time::Instant::now();
    // 300 ms of kernel timeout, the host's grace, exit: far below this.
    let bound = std::time::Duration::from_secs(30);
    while ranks.iter_mut().enumerate().any(|(r, c)| r != victim && c.try_wait().unwrap().is_none()) {
        if killed.elapsed() > bound {
            stop(&mut ranks, format!("a surviving rank did not exit within {bound:?} of rank {victim}'s death"));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for (r, c) in ranks.iter_mut().enumerate().filter(|(r, _)| *r != victim) {
        let status = c.wait().unwrap();
        let t = text(r);
        assert!(!status.success(), "rank {r} succeeded after rank {victim} died:\n{t}");
        let line = t.lines().find(|l| l.contains("timed out") || l.contains("GPU rank"));
        assert!(line.is_some(), "rank {r} exited ({status}) without a typed timeout or peer failure:\n{t}");
        println!("rank {victim} killed; rank {r} exited after {:?}: {}", killed.elapsed(), line.unwrap_or_default());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A rank that joins the rendezvous and then never starts NVSHMEM (it died or hung before
/// `nvshmemx_hostlib_init_attr`): rank 0's initialisation would wait for it forever; with
/// `--setup-timeout-s 5` it fails with a typed error naming the call, and the process exits on
/// its own. This test plays the missing rank 1 itself (the rendezvous only), so one GPU is enough.
#[test]
#[ignore = "needs GPU"]
fn a_rank_missing_from_nvshmem_set_up_fails_rank_0_within_the_set_up_timeout() {
    let exe = exe();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = std::time::Instant::now();
    let mut rank0 = Command::new(&exe)
        .args(["run", "--tokens", "64", "--experts", "8", "--hidden", "128", "--inter", "128", "--iters", "0", "--setup-timeout-s", "5"])
        .envs([("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_WORLD_SIZE", "2"), ("MASTER_ADDR", "127.0.0.1")])
        .env("MASTER_PORT", port.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = flashmoe::dist::rendezvous("127.0.0.1", port, 1, 2, std::time::Duration::from_secs(60));
    let limit = std::time::Duration::from_secs(60);
    while rank0.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            drop(rank0.kill());
            panic!("rank 0 did not exit within {limit:?} with rank 1 missing from NVSHMEM's set-up");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = rank0.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(bytes.is_ok(), "the rendezvous failed: {bytes:?}\n{text}");
    assert!(!out.status.success(), "rank 0 succeeded without rank 1:\n{text}");
    let line = text.lines().find(|l| l.contains("did not return within"));
    assert!(line.is_some(), "rank 0 exited ({}) without the set-up timeout:\n{text}", out.status);
    println!("rank 0 exited after {:?}: {}", started.elapsed(), line.unwrap_or_default());
}
