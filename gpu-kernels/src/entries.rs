//! Every kernel entry point, in one table: which PTX build holds it, what it computes, and how it
//! is launched. build.rs builds one PTX per [`Arch`], the loader checks every entry is in its
//! PTX, and the layer picks its entry here. A new kernel variant is one table line plus its code.

use crate::layout::{BLOCK_THREADS, DType, SHARED_BYTES, WS_SHARED_BYTES, WS_THREADS};

/// A PTX build of the kernel crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    /// Hopper (H100/H200): wgmma, TMA, setmaxnreg.
    Sm90a,
    /// Ampere and later 8.x parts: mma.sync; also JIT-compiles for newer GPUs (PTX is
    /// forward-compatible), which is how the sm_80 build is tested on an H200.
    Sm80,
}

impl Arch {
    /// Every build, in build order.
    pub const ALL: [Arch; 2] = [Arch::Sm90a, Arch::Sm80];

    /// The `-arch` ptxas and the driver's JIT compile it for; also the PTX file stem.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::Sm90a => "sm_90a",
            Arch::Sm80 => "sm_80",
        }
    }

    /// rustc's `-Ctarget-cpu` and `-Ctarget-feature` (PTX ISA) for this build.
    pub const fn rustc_target(self) -> (&'static str, &'static str) {
        match self {
            Arch::Sm90a => ("sm_90a", "+ptx80"),
            Arch::Sm80 => ("sm_80", "+ptx80"),
        }
    }

    /// The builds a device of compute capability `major.minor` can run, best first.
    pub const fn for_device(major: i32, minor: i32) -> &'static [Arch] {
        match (major, minor) {
            (9, 0) => &[Arch::Sm90a, Arch::Sm80],
            (8, _) => &[Arch::Sm80],
            _ => &[],
        }
    }
}

/// How a kernel's tile GEMM runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MainloopKind {
    /// Warp-specialized blocks (sm_90a): a cp.async producer warpgroup feeding two wgmma consumer
    /// warpgroups through an mbarrier ring; one 384-thread block per SM.
    WarpSpecialized,
    /// wgmma m64n128k16 from shared-memory descriptors (sm_90a), one warpgroup per block.
    Wgmma,
    /// mma.sync m16n8k16 (bf16/f16) or m16n8k8 (tf32) with ldmatrix.
    MmaSync,
}

/// One kernel entry point of one PTX build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub arch: Arch,
    pub name: &'static str,
    /// Element type of a MoE forward (None: a utility kernel).
    pub dtype: Option<DType>,
    pub mainloop: Option<MainloopKind>,
    pub threads: u32,
    /// Dynamic shared memory per block.
    pub shared_bytes: u32,
    /// Whether the PTX entry needs `.maxntid threads` and `.minnctapersm 1` (injected by the
    /// build: rustc cannot emit them, and without them ptxas ignores setmaxnreg).
    pub launch_bounds: bool,
}

const fn moe(arch: Arch, name: &'static str, dtype: DType, mainloop: MainloopKind) -> Entry {
    let ws = matches!(mainloop, MainloopKind::WarpSpecialized);
    let (threads, shared_bytes) = if ws { (WS_THREADS, WS_SHARED_BYTES) } else { (BLOCK_THREADS, SHARED_BYTES) };
    Entry { arch, name, dtype: Some(dtype), mainloop: Some(mainloop), threads, shared_bytes, launch_bounds: ws }
}

/// A one-block test kernel over the GEMM pipeline's shared memory (`tile_test`).
const fn tile_test(arch: Arch, name: &'static str) -> Entry {
    Entry { arch, name, dtype: None, mainloop: None, threads: BLOCK_THREADS, shared_bytes: SHARED_BYTES, launch_bounds: false }
}

const fn utility(arch: Arch, name: &'static str) -> Entry {
    Entry { arch, name, dtype: None, mainloop: None, threads: 256, shared_bytes: 0, launch_bounds: false }
}

use Arch::{Sm80, Sm90a};
use MainloopKind::{MmaSync, WarpSpecialized, Wgmma};

/// Every entry point of every build; the first forward of a build and dtype is its default.
pub const ENTRIES: [Entry; 19] = [
    moe(Sm90a, "moe_forward_bf16", DType::Bf16, Wgmma),
    moe(Sm90a, "moe_forward_f16", DType::F16, Wgmma),
    moe(Sm90a, "moe_forward_bf16_ws", DType::Bf16, WarpSpecialized),
    moe(Sm90a, "moe_forward_f16_ws", DType::F16, WarpSpecialized),
    moe(Sm90a, "moe_forward_f32", DType::F32, MmaSync),
    moe(Sm90a, "moe_forward_bf16_mma_sync", DType::Bf16, MmaSync),
    moe(Sm80, "moe_forward_bf16", DType::Bf16, MmaSync),
    moe(Sm80, "moe_forward_f16", DType::F16, MmaSync),
    moe(Sm80, "moe_forward_f32", DType::F32, MmaSync),
    utility(Sm90a, "smoke_axpy"),
    utility(Sm90a, "copy_v4"),
    utility(Sm80, "smoke_axpy"),
    utility(Sm80, "copy_v4"),
    tile_test(Sm90a, "gemm_tile_bf16"),
    tile_test(Sm90a, "gemm_tile_bf16_mma_sync"),
    tile_test(Sm90a, "gemm_tile_f32"),
    Entry {
        arch: Sm90a,
        name: "ws_tile_gemm_bf16",
        dtype: None,
        mainloop: None,
        threads: WS_THREADS,
        shared_bytes: WS_SHARED_BYTES,
        launch_bounds: true,
    },
    tile_test(Sm80, "gemm_tile_bf16"),
    tile_test(Sm80, "gemm_tile_f32"),
];

/// The MoE forward of `arch` for `dtype`: the first entry, or the one with `mainloop` if given.
pub fn moe_forward(arch: Arch, dtype: DType, mainloop: Option<MainloopKind>) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.arch == arch && e.dtype == Some(dtype) && mainloop.is_none_or(|m| e.mainloop == Some(m)))
}

/// A utility kernel of `arch` by name.
pub fn utility_kernel(arch: Arch, name: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.arch == arch && e.dtype.is_none() && e.name == name)
}

#[cfg(not(target_arch = "nvptx64"))]
extern crate alloc;
#[cfg(not(target_arch = "nvptx64"))]
use alloc::{format, string::String};

/// Why [`with_launch_bounds`] could not patch a PTX text.
#[derive(Debug, PartialEq, Eq)]
pub enum LaunchBoundsError {
    NoEntry(&'static str),
    DuplicateEntry(&'static str),
    AlreadyBounded(&'static str),
}

/// The PTX text with `.maxntid threads, 1, 1` and `.minnctapersm 1` after the parameter list of
/// `entry` (rustc cannot emit them; ptxas needs both to honour setmaxnreg, see
/// shared/docs/hopper-recipes.md). Host side: build.rs patches the PTX with it.
#[cfg(not(target_arch = "nvptx64"))]
pub fn with_launch_bounds(ptx: &str, entry: &'static str, threads: u32) -> Result<String, LaunchBoundsError> {
    let head = |at: usize| ptx[at + ".entry ".len() + entry.len()..].starts_with('(');
    let found: [Option<usize>; 2] = {
        let mut it = ptx.match_indices(".entry ").map(|(i, _)| i).filter(|&i| ptx[i + 7..].starts_with(entry) && head(i));
        [it.next(), it.next()]
    };
    let at = match found {
        [None, _] => return Err(LaunchBoundsError::NoEntry(entry)),
        [Some(_), Some(_)] => return Err(LaunchBoundsError::DuplicateEntry(entry)),
        [Some(at), None] => at,
    };
    let close = at + ptx[at..].find(')').ok_or(LaunchBoundsError::NoEntry(entry))? + 1;
    let body = close + ptx[close..].find('{').ok_or(LaunchBoundsError::NoEntry(entry))?;
    if ptx[close..body].contains(".maxntid") || ptx[close..body].contains(".reqntid") || ptx[close..body].contains(".minnctapersm") {
        return Err(LaunchBoundsError::AlreadyBounded(entry));
    }
    Ok(format!("{}\n.maxntid {threads}, 1, 1\n.minnctapersm 1\n{}", &ptx[..close], &ptx[close..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_build_has_a_forward_per_dtype_and_the_utilities() {
        for arch in Arch::ALL {
            for dtype in [DType::Bf16, DType::F16, DType::F32] {
                let e = moe_forward(arch, dtype, None).unwrap();
                let ws = arch == Sm90a && dtype != DType::F32;
                assert_eq!(e.mainloop == Some(WarpSpecialized), ws, "{e:?}");
                assert_eq!(
                    (e.threads, e.shared_bytes, e.launch_bounds),
                    if ws { (WS_THREADS, WS_SHARED_BYTES, true) } else { (BLOCK_THREADS, SHARED_BYTES, false) }
                );
            }
            assert!(utility_kernel(arch, "smoke_axpy").is_some() && utility_kernel(arch, "copy_v4").is_some());
        }
        assert_eq!(moe_forward(Sm90a, DType::Bf16, None).unwrap().mainloop, Some(WarpSpecialized));
        assert_eq!(moe_forward(Sm90a, DType::Bf16, Some(Wgmma)).unwrap().name, "moe_forward_bf16");
        assert_eq!(moe_forward(Sm90a, DType::Bf16, Some(MmaSync)).unwrap().name, "moe_forward_bf16_mma_sync");
        assert_eq!(moe_forward(Sm80, DType::Bf16, Some(Wgmma)), None);
        assert_eq!(Arch::for_device(9, 0), &[Sm90a, Sm80]);
        assert_eq!(Arch::for_device(8, 6), &[Sm80]);
        assert!(Arch::for_device(7, 5).is_empty() && Arch::for_device(10, 0).is_empty());
        // Names are unique per build.
        for (i, a) in ENTRIES.iter().enumerate() {
            assert!(ENTRIES[i + 1..].iter().all(|b| (a.arch, a.name) != (b.arch, b.name)), "{a:?}");
        }
    }

    #[test]
    fn launch_bounds_are_injected_after_the_parameter_list_of_exactly_one_entry() {
        let ptx = ".visible .entry k_ws(\n\t.param .u64 k_ws_param_0\n)\n{\n\tret;\n}\n.visible .entry k(\n)\n{\n}\n";
        let out = with_launch_bounds(ptx, "k_ws", 384).unwrap();
        assert!(out.contains("k_ws_param_0\n)\n.maxntid 384, 1, 1\n.minnctapersm 1\n\n{"), "{out}");
        assert_eq!(out.matches(".maxntid").count(), 1);
        // `k` is a prefix of `k_ws` but a different entry.
        let k = with_launch_bounds(ptx, "k", 128).unwrap();
        assert!(k.contains(".entry k(\n)\n.maxntid 128, 1, 1"), "{k}");
        assert_eq!(with_launch_bounds(ptx, "missing", 384), Err(LaunchBoundsError::NoEntry("missing")));
        assert_eq!(with_launch_bounds(&out, "k_ws", 384), Err(LaunchBoundsError::AlreadyBounded("k_ws")));
        let twice = format!("{ptx}{ptx}");
        assert_eq!(with_launch_bounds(&twice, "k_ws", 384), Err(LaunchBoundsError::DuplicateEntry("k_ws")));
    }
}
