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
