//! Builds gpu-kernels for nvptx64-nvidia-cuda once per build of its entry table
//! (`flashmoe_kernels::entries::Arch::ALL`: sm_90a and sm_80) and leaves the PTX files in OUT_DIR
//! for `include_str!`.
//!
//! The nested cargo runs with its own target dir (it cannot wait on the outer build's lock),
//! builds `core` from rust-src, and links with fat LTO into one cdylib whose `--emit=asm` output is
//! the PTX. No object is linked, so the linker is a no-op script.
//!
//! With FLASHMOE_CUBIN=1 each PTX is also compiled by ptxas (FLASHMOE_PTXAS, else PATH's) into
//! `kernels_<stem>.cubin` for the host to load as is: no JIT at start (25-55 s for these modules on
//! an H200), and the machine code that runs is the one `tests/ptxas.rs` and
//! `scripts/sass-check.sh` inspect. Without it the cubin files are empty and the driver compiles
//! the PTX.
//!
//! With the feature `nvshmem` it also makes `kernels_sm_90a_nvshmem.ptx` (shared/docs/nvshmem.md,
//! route A): the kernel crate with its feature `nvshmem` as post-LTO LLVM bitcode, `llvm-link`ed
//! with NVSHMEM's `libnvshmem_device.bc`, internalized but for the kernels and NVSHMEM's two device
//! globals, with NVSHMEM's always-inline API inlined by `opt`, and lowered with `llc` (the
//! llvm-tools component).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use flashmoe_kernels::entries::{self, Arch, NVSHMEM_ARCH, NVSHMEM_DEVICE_GLOBALS, NVSHMEM_ENTRIES, NVSHMEM_PTX_STEM};

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

    // Feature `nvshmem`: find its inputs first, so that a missing one fails before any build.
    let nvshmem = env::var_os("CARGO_FEATURE_NVSHMEM").map(|_| (nvshmem_device_bc(), llvm_tools_dir()));

    let linker = out_dir.join("nvptx-no-link.sh");
    write_noop_linker(&linker);

    for arch in Arch::ALL {
        let stem = arch.name();
        let target_dir = out_dir.join(format!("kernels-{stem}"));
        let deps = nested_build(&kernels, &target_dir, arch, &linker, None, "asm");
        let ptx = deps.join("flashmoe_kernels.s");
        let mut text = fs::read_to_string(&ptx).unwrap_or_else(|e| panic!("kernel build for {stem} left no PTX at {}: {e}", ptx.display()));
        for entry in entries::ENTRIES.iter().filter(|e| e.arch == arch) {
            let Some(min_blocks) = entry.launch_bounds else { continue };
            text = entries::with_launch_bounds(&text, entry.name, entry.threads, min_blocks)
                .unwrap_or_else(|e| panic!("{stem} PTX: cannot add launch bounds to {}: {e:?}", entry.name));
        }
        fs::write(out_dir.join(format!("kernels_{stem}.ptx")), text).expect("write PTX to OUT_DIR");
    }

    if let Some((device_bc, tools)) = nvshmem {
        nvshmem_build(&kernels, &out_dir, &linker, &device_bc, &tools);
    }

    println!("cargo:rerun-if-env-changed=FLASHMOE_CUBIN");
    println!("cargo:rerun-if-env-changed=FLASHMOE_SANITIZE");
    let ptxas = env::var("FLASHMOE_CUBIN").is_ok_and(|v| v == "1").then(|| {
        println!("cargo:rerun-if-env-changed=FLASHMOE_PTXAS");
        env::var("FLASHMOE_PTXAS").unwrap_or_else(|_| "ptxas".into())
    });
    let mut stems: Vec<(String, &str)> = Arch::ALL.iter().map(|a| (a.name().to_string(), a.name())).collect();
    if env::var_os("CARGO_FEATURE_NVSHMEM").is_some() {
        stems.push((NVSHMEM_PTX_STEM.to_string(), NVSHMEM_ARCH.name()));
    }
    // One ptxas per build at once (the sm_90a module alone takes ~25 s).
    std::thread::scope(|scope| {
        for (stem, arch) in &stems {
            let (out_dir, ptxas) = (&out_dir, ptxas.as_deref());
            scope.spawn(move || write_cubin(out_dir, stem, arch, ptxas));
        }
    });
}

/// `kernels_{stem}.cubin` next to its PTX: compiled for `arch` by `ptxas` (FLASHMOE_CUBIN=1), or
/// empty (the host then loads the PTX).
fn write_cubin(out_dir: &Path, stem: &str, arch: &str, ptxas: Option<&str>) {
    let cubin = out_dir.join(format!("kernels_{stem}.cubin"));
    let Some(ptxas) = ptxas else {
        fs::write(&cubin, []).expect("write an empty cubin to OUT_DIR");
        return;
    };
    let ptx = out_dir.join(format!("kernels_{stem}.ptx"));
    let output = Command::new(ptxas)
        .args([&format!("-arch={arch}"), "-O3", "-o"])
        .arg(&cubin)
        .arg(&ptx)
        .output()
        .unwrap_or_else(|e| panic!("FLASHMOE_CUBIN=1: could not start ptxas `{ptxas}` (set FLASHMOE_PTXAS): {e}"));
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        panic!("FLASHMOE_CUBIN=1: ptxas failed on {} (its errors are above)", ptx.display());
    }
}

/// Runs the nested nvptx64 cargo build of the kernel crate for `arch` (with the crate feature
/// `feature`, if any) and `--emit={emit}`; returns the folder that holds `flashmoe_kernels.*`.
fn nested_build(kernels: &Path, target_dir: &Path, arch: Arch, linker: &Path, feature: Option<&str>, emit: &str) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let (stem, (cpu, target_feature)) = (arch.name(), arch.rustc_target());
    // immediate-abort: a failed bounds or division check traps in place instead of calling
    // into core's panic machinery (which would cost a call frame in every kernel).
    let mut flags = vec![
        format!("-Ctarget-cpu={cpu}"),
        format!("-Ctarget-feature={target_feature}"),
        format!("-Clinker={}", linker.display()),
        "-Zunstable-options".into(),
        "-Cpanic=immediate-abort".into(),
    ];
    // FLASHMOE_SANITIZE=1: the warp-specialized entries keep the entry's register count in every
    // warpgroup (no `setmaxnreg`), for compute-sanitizer, whose instrumented code otherwise
    // waits forever in `setmaxnreg.inc` (perf log v20). Slower, and it spills; never a release.
    if env::var("FLASHMOE_SANITIZE").is_ok_and(|v| v == "1") {
        flags.extend(["--cfg".into(), "flashmoe_sanitize".into()]);
    }
    let flags = flags.join("\x1f");
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(kernels)
        .args(["rustc", "--release", "--lib", "--crate-type", "cdylib", "--target", "nvptx64-nvidia-cuda", "-Zbuild-std=core"])
        .arg("--target-dir")
        .arg(target_dir);
    if let Some(feature) = feature {
        cmd.args(["--features", feature]);
    }
    cmd.args([
        "--config",
        "profile.release.lto=\"fat\"",
        "--config",
        "profile.release.codegen-units=1",
        "--config",
        "profile.release.opt-level=3",
        "--config",
        "profile.release.debug=false",
        "--",
    ])
    .arg(format!("--emit={emit}"));
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
    forward_warnings(stem, &String::from_utf8_lossy(&output.stderr));
    target_dir.join("nvptx64-nvidia-cuda").join("release").join("deps")
}

/// Repeats the kernel crate's rustc warnings (message and location) as this build's warnings:
/// the nested build's output is otherwise dropped when it succeeds, and its dead code and
/// unused imports would pile up unseen. `+ptx80`'s unstable-feature notice (every build) and the
/// count line are left out.
fn forward_warnings(stem: &str, stderr: &str) {
    let mut lines = stderr.lines().peekable();
    while let Some(line) = lines.next() {
        if !line.starts_with("warning: ") || line.contains("`ptx80`") || line.contains("(lib) generated ") {
            continue;
        }
        let at = lines.next_if(|l| l.trim_start().starts_with("-->")).map(|l| format!(" ({})", l.trim_start().trim_start_matches("--> ")));
        println!("cargo:warning=kernels {stem}: {}{}", line.trim_start_matches("warning: "), at.unwrap_or_default());
    }
}

/// NVSHMEM's device bitcode: NVSHMEM_DEVICE_BC, else NVSHMEM_HOME/lib/libnvshmem_device.bc.
fn nvshmem_device_bc() -> PathBuf {
    println!("cargo:rerun-if-env-changed=NVSHMEM_DEVICE_BC");
    println!("cargo:rerun-if-env-changed=NVSHMEM_HOME");
    let mut tried = Vec::new();
    if let Some(p) = env::var_os("NVSHMEM_DEVICE_BC") {
        tried.push(format!("NVSHMEM_DEVICE_BC={}", Path::new(&p).display()));
        if Path::new(&p).is_file() {
            return PathBuf::from(p);
        }
    }
    if let Some(home) = env::var_os("NVSHMEM_HOME") {
        let p = Path::new(&home).join("lib").join("libnvshmem_device.bc");
        tried.push(format!("NVSHMEM_HOME/lib/libnvshmem_device.bc={}", p.display()));
        if p.is_file() {
            return p;
        }
    }
    if tried.is_empty() {
        tried.push("neither variable is set".into());
    }
    panic!(
        "feature `nvshmem` needs NVSHMEM's device bitcode libnvshmem_device.bc from the PyPI wheel nvidia-nvshmem-cu13==3.4.5 \
         (`pip install --no-deps --target DIR nvidia-nvshmem-cu13==3.4.5`): set NVSHMEM_HOME=DIR/nvidia/nvshmem or \
         NVSHMEM_DEVICE_BC to the file itself (tried: {})",
        tried.join("; ")
    );
}

/// The llvm-tools component's binaries of the toolchain building this crate.
fn llvm_tools_dir() -> PathBuf {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .unwrap_or_else(|e| panic!("could not run `{rustc} --print sysroot`: {e}"));
    assert!(out.status.success(), "`{rustc} --print sysroot` failed");
    let sysroot = String::from_utf8(out.stdout).expect("sysroot is UTF-8");
    let host = env::var("HOST").expect("cargo sets HOST");
    let dir = Path::new(sysroot.trim()).join("lib").join("rustlib").join(host).join("bin");
    for tool in ["llvm-link", "opt", "llc", "llvm-nm"] {
        assert!(
            dir.join(tool).is_file(),
            "feature `nvshmem` needs {tool} from the llvm-tools component (rust-toolchain.toml lists it; `rustup component add llvm-tools`), not found in {}",
            dir.display()
        );
    }
    dir
}

/// Runs an LLVM tool; panics with its output on failure. Returns stdout.
fn run_tool(dir: &Path, tool: &str, args: &[&std::ffi::OsStr]) -> String {
    let output =
        Command::new(dir.join(tool)).args(args).output().unwrap_or_else(|e| panic!("could not start {}: {e}", dir.join(tool).display()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // NVSHMEM's data layout lacks rustc's p6:32:32 and i256:256; rustc's module goes first, so its
    // layout is kept (shared/docs/nvshmem.md).
    for line in stderr.lines().filter(|l| !l.contains("Linking two modules of different data layouts") && !l.trim().is_empty()) {
        println!("cargo:warning={tool}: {line}");
    }
    assert!(output.status.success(), "{tool} {args:?} failed:\n{stderr}");
    String::from_utf8(output.stdout).expect("tool output is UTF-8")
}

/// `kernels_sm_90a_nvshmem.ptx`: route A of shared/docs/nvshmem.md.
fn nvshmem_build(kernels: &Path, out_dir: &Path, linker: &Path, device_bc: &Path, tools: &Path) {
    println!("cargo:rerun-if-changed={}", device_bc.display());
    let work = out_dir.join(format!("kernels-{NVSHMEM_PTX_STEM}"));
    let deps = nested_build(kernels, &work, NVSHMEM_ARCH, linker, Some("nvshmem"), "llvm-bc");
    // Post-fat-LTO: core included, only the kernels external, NVSHMEM's functions as declarations.
    let kernel_bc = deps.join("flashmoe_kernels.bc");
    assert!(kernel_bc.is_file(), "the NVSHMEM kernel build left no bitcode at {}", kernel_bc.display());

    // Keep what rustc exported (the kernels) and NVSHMEM's two device globals, which
    // nvshmemx_cumodule_init finds with cuModuleGetGlobal; internalize the rest.
    let nm = run_tool(tools, "llvm-nm", &["--defined-only".as_ref(), "--extern-only".as_ref(), kernel_bc.as_os_str()]);
    let mut public: Vec<String> = nm.lines().filter_map(|l| l.split_whitespace().last()).map(str::to_string).collect();
    for e in NVSHMEM_ENTRIES {
        assert!(public.iter().any(|p| p == e.name), "{} is not exported by the NVSHMEM kernel build ({public:?})", e.name);
    }
    public.extend(NVSHMEM_DEVICE_GLOBALS.iter().map(|g| g.to_string()));

    let linked = work.join("linked.bc");
    let optimized = work.join("opt.bc");
    let ptx = work.join(format!("kernels_{NVSHMEM_PTX_STEM}.ptx"));
    run_tool(
        tools,
        "llvm-link",
        &[kernel_bc.as_os_str(), "--only-needed".as_ref(), device_bc.as_os_str(), "-o".as_ref(), linked.as_os_str()],
    );
    let keep = format!("-internalize-public-api-list={}", public.join(","));
    // rustc's bitcode is already optimized after LTO. A second `default<O3>` re-optimizes the
    // kernels into code ptxas cannot register-allocate under the warp-specialized entries'
    // setmaxnreg budgets (C7600 at 255 registers), so only NVSHMEM's always-inline API is
    // inlined and the unused library is dropped: the kernels stay as the ordinary build's.
    run_tool(
        tools,
        "opt",
        &["-passes=internalize,globaldce,always-inline".as_ref(), keep.as_ref(), linked.as_os_str(), "-o".as_ref(), optimized.as_os_str()],
    );
    let (cpu, ptx_isa) = NVSHMEM_ARCH.rustc_target();
    let (mcpu, mattr) = (format!("-mcpu={cpu}"), format!("-mattr={ptx_isa}"));
    run_tool(
        tools,
        "llc",
        &[
            "-mtriple=nvptx64-nvidia-cuda".as_ref(),
            mcpu.as_ref(),
            mattr.as_ref(),
            "-O3".as_ref(),
            optimized.as_os_str(),
            "-o".as_ref(),
            ptx.as_os_str(),
        ],
    );

    let mut text = fs::read_to_string(&ptx).unwrap_or_else(|e| panic!("llc left no PTX at {}: {e}", ptx.display()));
    for entry in entries::ENTRIES.iter().filter(|e| e.arch == NVSHMEM_ARCH) {
        let Some(min_blocks) = entry.launch_bounds else { continue };
        text = entries::with_launch_bounds(&text, entry.name, entry.threads, min_blocks)
            .unwrap_or_else(|e| panic!("nvshmem PTX: cannot add launch bounds to {}: {e:?}", entry.name));
    }
    for global in NVSHMEM_DEVICE_GLOBALS {
        assert!(
            text.lines().any(|l| l.starts_with(".visible") && l.contains(&format!(" {global}["))),
            "{global} is not .visible in the NVSHMEM PTX {} (nvshmemx_cumodule_init would fail)",
            ptx.display()
        );
    }
    fs::write(out_dir.join(format!("kernels_{NVSHMEM_PTX_STEM}.ptx")), text).expect("write PTX to OUT_DIR");
}

fn write_noop_linker(path: &Path) {
    fs::write(path, "#!/bin/sh\nexit 0\n").expect("write the no-op linker script");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("make the no-op linker executable");
    }
}
