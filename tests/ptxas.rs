//! Every embedded PTX build passes `ptxas` for its architecture, no kernel spills registers,
//! setmaxnreg is honoured and no wgmma is serialized.
//!
//! ptxas comes from FLASHMOE_PTXAS or PATH (the PyPI wheel `nvidia-cuda-nvcc-cu12` has one; .ci/run
//! installs it). Without ptxas the test is skipped, unless FLASHMOE_REQUIRE_PTXAS=1.

use std::path::{Path, PathBuf};
use std::process::Command;

use flashmoe::{Arch, kernels};

fn ptxas() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLASHMOE_PTXAS") {
        return Some(PathBuf::from(p));
    }
    Command::new("ptxas").arg("--version").output().ok().filter(|o| o.status.success()).map(|_| PathBuf::from("ptxas"))
}

/// One function of `ptxas -v`: name, registers (entries only: a called function shares its
/// entry's), spill stores + loads, stack bytes.
struct Resources {
    name: String,
    entry: bool,
    regs: u32,
    spills: u32,
    stack: u32,
}

/// Every function ptxas reports, entries and the functions they call.
fn resources(log: &str) -> Vec<Resources> {
    let mut out = Vec::new();
    let mut current: Option<Resources> = None;
    for line in log.lines() {
        if let Some(rest) = line.split("Function properties for ").nth(1) {
            out.extend(current.take());
            current = Some(Resources { name: rest.trim().to_string(), entry: false, regs: 0, spills: 0, stack: 0 });
        } else if line.contains("bytes stack frame") {
            let nums: Vec<u32> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|s| s.parse().ok()).collect();
            if let (Some(c), [stack, stores, loads, ..]) = (current.as_mut(), nums.as_slice()) {
                c.spills = stores + loads;
                c.stack = *stack;
            }
        } else if let Some(rest) = line.split("Used ").nth(1)
            && let Some(mut c) = current.take()
        {
            c.entry = true;
            c.regs = rest.split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(0);
            out.push(c);
        }
    }
    out.extend(current);
    out
}

/// ptxas, or None when the test should be skipped (it fails instead with FLASHMOE_REQUIRE_PTXAS=1).
fn required_ptxas() -> Option<PathBuf> {
    let found = ptxas();
    if found.is_none() {
        assert!(
            std::env::var("FLASHMOE_REQUIRE_PTXAS").as_deref() != Ok("1"),
            "FLASHMOE_REQUIRE_PTXAS=1 but no ptxas found (set FLASHMOE_PTXAS)"
        );
        eprintln!("skipped: no ptxas (set FLASHMOE_PTXAS or put it on PATH)");
    }
    found
}

/// Spill bytes an entry may have: none, with these exceptions.
///
/// The warp-specialized forwards spill nothing since the warpgroup thread index is re-read at
/// each use (perf log v23: its 40 bytes were that one value, kept live across the entry); in the
/// NVSHMEM build, which keeps one read (`group::warpgroup_tid`), 48 bytes, 52 since the producer
/// streams own rows (perf log v25; that build never runs a layer on the ws engine with puts).
///
/// The 128-thread 16-bit forwards may have 8 bytes: since the decode pipeline (the mainloop's
/// four-stage ring for tiles of up to 64 rows, perf log v15) ptxas stores one 8-byte value that
/// it never loads again ("8 bytes spill stores, 0 bytes spill loads" on sm_90a).
///
/// The NVSHMEM build's forwards may spill more (perf log v16): the put transport's calls (the
/// dispatch's puts, the GEMM1 task's row puts and signal) need registers saved around them, once
/// per tile, outside the mainloops. Its 128-thread 16-bit forwards went 16 -> 52 bytes with the
/// vector epilogue (perf log v18), 20 since v20: per-task and per-phase words (nvdisasm marks
/// each refill), none in the mainloop or the epilogue's loop.
///
/// A `FLASHMOE_SANITIZE=1` build (no `setmaxnreg`: every warpgroup at the entry's register count,
/// for compute-sanitizer) spills in the warp-specialized entries by design; they are not checked.
fn spill_ceiling(label: &str, entry: &str) -> u32 {
    if std::env::var("FLASHMOE_SANITIZE").as_deref() == Ok("1") && entry.contains("ws") {
        return u32::MAX;
    }
    let nvshmem = label.contains("nvshmem");
    if entry.ends_with("_ws") {
        if nvshmem { 52 } else { 0 }
    } else if entry == "moe_forward_bf16" || entry == "moe_forward_f16" {
        if nvshmem { 20 } else { 8 }
    } else if nvshmem && entry.starts_with("moe_forward") {
        8
    } else {
        0
    }
}

/// Assembles `ptx` (the build `label`) for `arch` and checks what every build must pass: ptxas
/// succeeds, reports no performance loss it only prints as info, and no entry spills. Returns
/// every function ptxas reported, for the caller's own checks.
fn assemble(ptxas: &Path, arch: &str, label: &str, ptx: &str) -> (Vec<Resources>, String) {
    let dir = std::env::temp_dir().join(format!("flashmoe-ptxas-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{label}.ptx"));
    std::fs::write(&file, ptx).unwrap();
    let out = Command::new(ptxas).arg(format!("-arch={arch}")).arg("-v").arg(&file).arg("-o").arg("/dev/null").output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success() && !log.contains("error"), "ptxas -arch={arch} failed on {label}:\n{log}");
    // Performance losses ptxas reports only as info lines: setmaxnreg dropped (C7507, C7508)
    // and wgmma serialized (C7510: a wgmma in a called function; C7511/C7512: too few
    // registers). The old check missed C7510 on every sm_90a build up to v8.
    for bad in ["'setmaxnreg' ignored", "wgmma.mma_async instructions are serialized"] {
        assert!(!log.contains(bad), "ptxas -arch={arch} reported `{bad}` on {label}:\n{log}");
    }
    let functions = resources(&log);
    for f in &functions {
        let (name, spills, stack) = (&f.name, f.spills, f.stack);
        if f.entry {
            println!("{label}: {name}: {} registers, {spills} spill bytes, {stack} stack bytes", f.regs);
            let ceiling = spill_ceiling(label, name);
            assert!(spills <= ceiling, "{label} {name} spills {spills} bytes (at most {ceiling}):\n{log}");
        } else if spills > 0 {
            // Called functions (the mma.sync task loop, kept out of its entry) are reported, not
            // asserted: their spills predate this check (perf log v9).
            println!("{label}: called function {name}: {spills} spill bytes, {stack} stack bytes");
        }
    }
    (functions, log)
}

#[test]
fn embedded_ptx_assembles_without_spills() {
    let Some(ptxas) = required_ptxas() else { return };
    for arch in Arch::ALL {
        let (functions, log) = assemble(&ptxas, arch.name(), arch.name(), kernels::ptx(arch));
        assert!(functions.iter().any(|f| f.entry && f.name == "smoke_axpy"), "no resource report for smoke_axpy:\n{log}");
    }
}

/// The NVSHMEM build (feature `nvshmem`, never in CI): it passes ptxas for its architecture, no
/// entry spills, NVSHMEM's device globals stay `.visible` and no function is left external
/// (shared/docs/nvshmem.md: NVSHMEM's API inlines; `nvshmemi_transfer_quiet` and
/// `nvshmemi_transfer_put_signal`, the proxy path, stay as defined `.func`s).
#[cfg(feature = "nvshmem")]
#[test]
fn nvshmem_ptx_assembles_without_spills() {
    use flashmoe::entries::{NVSHMEM_ARCH, NVSHMEM_DEVICE_GLOBALS, NVSHMEM_ENTRIES, NVSHMEM_PTX_STEM};
    let Some(ptxas) = required_ptxas() else { return };
    let ptx = kernels::nvshmem_ptx();
    for g in NVSHMEM_DEVICE_GLOBALS {
        assert!(ptx.lines().any(|l| l.starts_with(".visible .const") && l.contains(&format!(" {g}["))), "{g} is not .visible");
    }
    assert!(!ptx.contains(".extern .func"), "the NVSHMEM PTX has an external function");
    let (functions, log) = assemble(&ptxas, NVSHMEM_ARCH.name(), NVSHMEM_PTX_STEM, ptx);
    for e in NVSHMEM_ENTRIES {
        assert!(functions.iter().any(|f| f.entry && f.name == e.name), "no resource report for {}:\n{log}", e.name);
    }
}
