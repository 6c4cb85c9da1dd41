//! Every embedded PTX build passes `ptxas` for its architecture, no kernel spills registers,
//! setmaxnreg is honoured and no wgmma is serialized.
//!
//! ptxas comes from FLASHMOE_PTXAS or PATH (the PyPI wheel `nvidia-cuda-nvcc-cu12` has one; .ci/run
//! installs it). Without ptxas the test is skipped, unless FLASHMOE_REQUIRE_PTXAS=1.

use std::path::PathBuf;
use std::process::Command;

use flashmoe::{Arch, kernels};

fn ptxas() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLASHMOE_PTXAS") {
        return Some(PathBuf::from(p));
    }
    Command::new("ptxas").arg("--version").output().ok().filter(|o| o.status.success()).map(|_| PathBuf::from("ptxas"))
}

/// (function, registers, spill stores + loads, stack bytes) parsed from `ptxas -v`.
fn resources(log: &str) -> Vec<(String, u32, u32, u32)> {
    let mut out = Vec::new();
    let mut current: Option<(String, u32, u32)> = None;
    for line in log.lines() {
        if let Some(rest) = line.split("Function properties for ").nth(1) {
            current = Some((rest.trim().to_string(), 0, 0));
        } else if line.contains("bytes stack frame") {
            let nums: Vec<u32> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|s| s.parse().ok()).collect();
            if let (Some(c), [stack, stores, loads, ..]) = (current.as_mut(), nums.as_slice()) {
                c.1 = stores + loads;
                c.2 = *stack;
            }
        } else if let Some(rest) = line.split("Used ").nth(1)
            && let Some((name, spills, stack)) = current.take()
        {
            let regs = rest.split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(0);
            out.push((name, regs, spills, stack));
        }
    }
    out
}

#[test]
fn embedded_ptx_assembles_without_spills() {
    let Some(ptxas) = ptxas() else {
        assert!(
            std::env::var("FLASHMOE_REQUIRE_PTXAS").as_deref() != Ok("1"),
            "FLASHMOE_REQUIRE_PTXAS=1 but no ptxas found (set FLASHMOE_PTXAS)"
        );
        eprintln!("skipped: no ptxas (set FLASHMOE_PTXAS or put it on PATH)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("flashmoe-ptxas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for arch in Arch::ALL {
        let file = dir.join(format!("{}.ptx", arch.name()));
        std::fs::write(&file, kernels::ptx(arch)).unwrap();
        let out =
            Command::new(&ptxas).arg(format!("-arch={}", arch.name())).arg("-v").arg(&file).arg("-o").arg("/dev/null").output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && !log.contains("error"), "ptxas -arch={} failed:\n{log}", arch.name());
        // ptxas drops setmaxnreg with only an info line (C7508) when the entry lacks launch bounds,
        // and serializes wgmma with a warning when it cannot keep the accumulators in place.
        for bad in ["C7508", "setmaxnreg' ignored", "wgmma.mma_async instructions are serialized", "C7510", "C7515", "C7516"] {
            assert!(!log.contains(bad), "ptxas -arch={} reported `{bad}`:\n{log}", arch.name());
        }
        let kernels = resources(&log);
        assert!(kernels.iter().any(|k| k.0 == "smoke_axpy"), "no resource report for smoke_axpy:\n{log}");
        for (name, regs, spills, stack) in &kernels {
            println!("{}: {name}: {regs} registers, {spills} spill bytes, {stack} stack bytes", arch.name());
            assert_eq!(*spills, 0, "{} {name} spills registers:\n{log}", arch.name());
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
