//! The PyTorch baseline script parses (where python3 is installed) and answers every key the
//! bench's reply matching reads.

use std::path::PathBuf;
use std::process::Command;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../benches/baseline_torch.py")
}

#[test]
fn the_baseline_script_parses() {
    let Ok(out) =
        Command::new("python3").args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])"]).arg(script()).output()
    else {
        eprintln!("skipped: no python3");
        return;
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_baseline_script_answers_the_keys_the_bench_reads() {
    let text = std::fs::read_to_string(script()).unwrap();
    // Echoed request fields, the full-layer variants, and the one-GPU GEMM-only references.
    for key in ["\"capacity_factor\"", "\"grouped\"", "\"loop\"", "\"ideal\"", "\"grouped_gemm\"", "\"liger\""] {
        assert!(text.contains(key), "benches/baseline_torch.py never mentions {key}");
    }
    // Liger's Triton fused MoE, by the entry point read in liger-kernel 0.8.5's source.
    assert!(text.contains("from liger_kernel.ops.fused_moe import LigerFusedMoEFunction"));
    // Runs without torch._grouped_mm: checked before use.
    assert!(text.contains("hasattr(torch, \"_grouped_mm\")"));
}
