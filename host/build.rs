//! Builds gpu-kernels for nvptx64-nvidia-cuda once per build of its entry table
//! (`flashmoe_kernels::entries::Arch::ALL`: sm_90a and sm_80) and leaves the PTX files in OUT_DIR
//! for `include_str!`.
//!
//! The nested cargo runs with its own target dir (it cannot wait on the outer build's lock),
//! builds `core` from rust-src, and links with fat LTO into one cdylib whose `--emit=asm` output is
//! the PTX. No object is linked, so the linker is a no-op script.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use flashmoe_kernels::entries::{self, Arch};

/// Environment that must not leak from the outer build into the nvptx one.
const SCRUBBED_ENV: [&str; 10] = [
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let kernels = manifest_dir.join("..").join("gpu-kernels");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed={}", kernels.join("src").display());
    println!("cargo:rerun-if-changed={}", kernels.join("Cargo.toml").display());
    println!("cargo:rerun-if-changed=build.rs");

    let linker = out_dir.join("nvptx-no-link.sh");
    write_noop_linker(&linker);
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    for arch in Arch::ALL {
        let (stem, (cpu, feature)) = (arch.name(), arch.rustc_target());
        let target_dir = out_dir.join(format!("kernels-{stem}"));
        // immediate-abort: a failed bounds or division check traps in place instead of calling
        // into core's panic machinery (which would cost a call frame in every kernel).
        let flags = [
            format!("-Ctarget-cpu={cpu}"),
            format!("-Ctarget-feature={feature}"),
            format!("-Clinker={}", linker.display()),
            "-Zunstable-options".into(),
            "-Cpanic=immediate-abort".into(),
        ]
        .join("\x1f");
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&kernels)
            .args(["rustc", "--release", "--lib", "--crate-type", "cdylib", "--target", "nvptx64-nvidia-cuda", "-Zbuild-std=core"])
            .arg("--target-dir")
            .arg(&target_dir)
            .args([
                "--config",
                "profile.release.lto=\"fat\"",
                "--config",
                "profile.release.codegen-units=1",
                "--config",
                "profile.release.opt-level=3",
                "--config",
                "profile.release.debug=false",
                "--",
                "--emit=asm",
            ]);
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        cmd.env("CARGO_ENCODED_RUSTFLAGS", flags);
        let output = cmd.output().unwrap_or_else(|e| panic!("could not start `{cargo}` for the nvptx64 kernel build: {e}"));
        if !output.status.success() {
            // Show rustc's diagnostics for the kernel crate as they are.
            eprintln!("{}", String::from_utf8_lossy(&output.stderr));
            panic!("the nvptx64 kernel build for {stem} failed (rustc's errors are above)");
        }
        let ptx = target_dir.join("nvptx64-nvidia-cuda").join("release").join("deps").join("flashmoe_kernels.s");
        let mut text = fs::read_to_string(&ptx).unwrap_or_else(|e| panic!("kernel build for {stem} left no PTX at {}: {e}", ptx.display()));
        for entry in entries::ENTRIES.iter().filter(|e| e.arch == arch && e.launch_bounds) {
            text = entries::with_launch_bounds(&text, entry.name, entry.threads)
                .unwrap_or_else(|e| panic!("{stem} PTX: cannot add launch bounds to {}: {e:?}", entry.name));
        }
        fs::write(out_dir.join(format!("kernels_{stem}.ptx")), text).expect("write PTX to OUT_DIR");
    }
}

fn write_noop_linker(path: &Path) {
    fs::write(path, "#!/bin/sh\nexit 0\n").expect("write the no-op linker script");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("make the no-op linker executable");
    }
}
