//! Without a GPU every command prints one clear line and exits with code 2.

use std::process::Command;

#[test]
fn without_a_gpu_commands_exit_2_with_one_line() {
    if flashmoe::driver::init().is_ok() {
        eprintln!("skipped: this machine has a GPU");
        return;
    }
    for args in [&[][..], &["info"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_flashmoe")).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "args {args:?}: stderr {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line expected, got: {stderr}");
        assert!(stderr.contains("no NVIDIA GPU"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn bad_shapes_are_one_line_errors_on_any_machine() {
    for args in [&["run", "--tokens", "0"][..], &["run", "--hidden", "100"][..], &["verify", "--top-k", "99"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_flashmoe")).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "args {args:?}: stderr {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line expected, got: {stderr}");
        assert!(stderr.starts_with("flashmoe: error:") && !stderr.contains("panicked"), "{stderr}");
    }
}

/// A two-layer synthetic Mixtral folder (H = 64, I = 128, E = 4, k = 2, bf16).
fn mixtral_folder(name: &str) -> std::path::PathBuf {
    use flashmoe::hf::{Family, Layout, synthetic};
    use flashmoe::{Activation, MoeConfig, Weights};
    let dir = std::env::temp_dir().join(format!("flashmoe-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = MoeConfig { hidden: 64, inter: 128, experts: 4, top_k: 2, gated: true, activation: Activation::Silu, ..MoeConfig::default() };
    let mut tensors = Vec::new();
    for l in 0..2 {
        tensors.extend(synthetic::layer_tensors(Family::Mixtral, Layout::PerExpert, l, &cfg, &Weights::random(&cfg, l as u64)));
    }
    synthetic::write(&dir, &synthetic::config_json(Family::Mixtral, &cfg, 2), &tensors, 2).unwrap();
    dir
}

fn flashmoe(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flashmoe")).args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn hf_checkpoint_errors_are_one_line_errors_on_any_machine() {
    let dir = mixtral_folder("errors");
    let d = dir.to_str().unwrap();
    for (args, says) in [
        (vec!["run", "--hf", "/nonexistent/model"], "config.json: file not found"),
        (vec!["run", "--hf", d, "--layer", "2"], "layer 2 is out of range: the model has 2 layers"),
        (vec!["verify", "--hf", d, "--top-k", "3"], "cannot be used with"),
        (vec!["run", "--hf", d, "--hidden", "128"], "cannot be used with"),
        (vec!["run", "--layer", "1"], "--hf"),
    ] {
        let (code, stderr) = flashmoe(&args);
        assert!(code == Some(1) || code == Some(2), "args {args:?}: exit {code:?}, stderr {stderr}");
        assert!(stderr.contains(says), "args {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        if code == Some(1) {
            assert_eq!(stderr.lines().count(), 1, "one line expected, got: {stderr}");
            assert!(stderr.starts_with("flashmoe: error:"), "{stderr}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hf_layer_is_checked_before_the_gpu_is_needed() {
    if flashmoe::driver::init().is_ok() {
        eprintln!("skipped: this machine has a GPU (the GPU tests run this layer)");
        return;
    }
    let dir = mixtral_folder("no-gpu");
    let (code, stderr) = flashmoe(&["run", "--hf", dir.to_str().unwrap(), "--layer", "1", "--tokens", "16"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no NVIDIA GPU") && stderr.lines().count() == 1, "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn launch_gives_each_process_its_rank_and_one_port() {
    let out = Command::new(env!("CARGO_BIN_EXE_flashmoe"))
        .args([
            "launch",
            "--nproc-per-node",
            "3",
            "--",
            "sh",
            "-c",
            "echo $RANK/$WORLD_SIZE $LOCAL_RANK/$LOCAL_WORLD_SIZE $MASTER_ADDR:$MASTER_PORT",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let port = lines[0].rsplit(':').next().unwrap().to_string();
    for (r, l) in lines.iter().enumerate() {
        assert_eq!(l, &format!("{r}/3 {r}/3 127.0.0.1:{port}"));
    }
}

#[test]
fn launch_stops_the_others_when_one_fails() {
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_flashmoe"))
        .args(["launch", "--nproc-per-node", "3", "--", "sh", "-c", "if [ $RANK = 1 ]; then exit 3; fi; sleep 30"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "the sleeping ranks were not stopped");
    assert!(String::from_utf8_lossy(&out.stderr).contains("local rank 1 exited"));
}
