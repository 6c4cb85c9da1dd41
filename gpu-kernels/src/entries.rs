//! Every kernel entry point, in one table: which PTX build holds it, what it computes, and how it
//! is launched. build.rs builds one PTX per [`Arch`], the loader checks every entry is in its
//! PTX, and the layer picks its entry here. A new kernel variant is one table line plus its code.

use crate::layout::{BLOCK_THREADS, DType, LEAN_SHARED_BYTES, SHARED_BYTES, SWEEP_BLOCKS_PER_SM, WS_SHARED_BYTES, WS_THREADS};

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
    /// Warp-specialized blocks (sm_90a): a producer warpgroup (weights by TMA, token rows by TMA
    /// or cp.async) feeding two wgmma consumer warpgroups through an mbarrier ring; one
    /// 384-thread block per SM.
    WarpSpecialized,
    /// wgmma m64n128k16 from shared-memory descriptors (sm_90a), one warpgroup per block.
    Wgmma,
    /// mma.sync m16n8k16 (bf16/f16) or m16n8k8 (tf32) with ldmatrix.
    MmaSync,
    /// No tile GEMM: warp dot products on the CUDA cores, one plain launch with no grid barrier
    /// (`lean`, the decode forward of a few tokens on one GPU).
    Dots,
    /// The same dot products swept over the chosen experts' weights by a cooperative grid of
    /// three blocks an SM (`sweep`, a few tokens of larger experts on one GPU).
    Sweep,
}

impl MainloopKind {
    /// One of the decode kernels for a few tokens on one GPU ([`Self::Dots`], [`Self::Sweep`]).
    pub const fn lean(self) -> bool {
        matches!(self, MainloopKind::Dots | MainloopKind::Sweep)
    }
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
    /// `Some(n)`: the PTX entry gets `.maxntid threads` and `.minnctapersm n` (injected by the
    /// build: rustc cannot emit them). Without them ptxas ignores setmaxnreg; `n` also bounds the
    /// registers a thread (65536 / (n · threads)).
    pub launch_bounds: Option<u32>,
}

/// The lean decode forward (`MainloopKind::Dots`): 128-thread blocks over the lean block's
/// shared layout, launched without cooperation.
const fn lean(arch: Arch, name: &'static str, dtype: DType) -> Entry {
    Entry {
        arch,
        name,
        dtype: Some(dtype),
        mainloop: Some(MainloopKind::Dots),
        threads: BLOCK_THREADS,
        shared_bytes: LEAN_SHARED_BYTES,
        launch_bounds: None,
    }
}

/// The sweep forward (`MainloopKind::Sweep`): the lean block's layout, bounded for
/// `SWEEP_BLOCKS_PER_SM` blocks an SM on Hopper, launched cooperatively. Ampere's SMs hold two
/// such blocks (164 KiB of shared memory on an A100), and at three ptxas spilled (40 bytes).
const fn sweep(arch: Arch, name: &'static str, dtype: DType) -> Entry {
    Entry {
        arch,
        name,
        dtype: Some(dtype),
        mainloop: Some(MainloopKind::Sweep),
        threads: BLOCK_THREADS,
        shared_bytes: LEAN_SHARED_BYTES,
        launch_bounds: Some(match arch {
            Sm90a => SWEEP_BLOCKS_PER_SM,
            Sm80 => 2,
        }),
    }
}

const fn moe(arch: Arch, name: &'static str, dtype: DType, mainloop: MainloopKind) -> Entry {
    let ws = matches!(mainloop, MainloopKind::WarpSpecialized);
    let (threads, shared_bytes) = if ws { (WS_THREADS, WS_SHARED_BYTES) } else { (BLOCK_THREADS, SHARED_BYTES) };
    Entry {
        arch,
        name,
        dtype: Some(dtype),
        mainloop: Some(mainloop),
        threads,
        shared_bytes,
        launch_bounds: if ws { Some(1) } else { None },
    }
}

/// A one-block test kernel over the GEMM pipeline's shared memory (`tile_test`).
const fn tile_test(arch: Arch, name: &'static str) -> Entry {
    Entry { arch, name, dtype: None, mainloop: None, threads: BLOCK_THREADS, shared_bytes: SHARED_BYTES, launch_bounds: None }
}

/// The weight-read probe `read_tiles` (`util_kernels`): 128 threads, a pipeline of
/// `READ_PROBE_STAGES` tiles of 128 rows x 128 bytes.
pub const READ_PROBE_STAGES: u32 = 4;
pub const READ_PROBE_TILE_BYTES: u32 = 128 * 128;

const fn read_probe(arch: Arch) -> Entry {
    Entry {
        arch,
        name: "read_tiles",
        dtype: None,
        mainloop: None,
        threads: 128,
        shared_bytes: READ_PROBE_STAGES * READ_PROBE_TILE_BYTES,
        launch_bounds: None,
    }
}

/// The bulk-copy weight-read probe `read_tiles_bulk` (`util_kernels`, sm_90a): the same tiles
/// through `READ_PROBE_STAGES` stages, then a full and an empty mbarrier per stage.
const fn read_probe_bulk() -> Entry {
    Entry {
        arch: Sm90a,
        name: "read_tiles_bulk",
        dtype: None,
        mainloop: None,
        threads: 128,
        shared_bytes: READ_PROBE_STAGES * (READ_PROBE_TILE_BYTES + 16),
        launch_bounds: None,
    }
}

const fn utility(arch: Arch, name: &'static str) -> Entry {
    Entry { arch, name, dtype: None, mainloop: None, threads: 256, shared_bytes: 0, launch_bounds: None }
}

use Arch::{Sm80, Sm90a};
use MainloopKind::{MmaSync, WarpSpecialized, Wgmma};

/// Every entry point of every build; the first forward of a build and dtype is its default.
pub const ENTRIES: [Entry; 31] = [
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
    read_probe(Sm90a),
    read_probe_bulk(),
    read_probe(Sm80),
    tile_test(Sm90a, "gemm_tile_bf16"),
    tile_test(Sm90a, "gemm_tile_bf16_mma_sync"),
    tile_test(Sm90a, "gemm_tile_f32"),
    Entry {
        arch: Sm90a,
        name: "ws256_tile_gemm_bf16",
        dtype: None,
        mainloop: None,
        threads: WS_THREADS,
        shared_bytes: WS_SHARED_BYTES,
        launch_bounds: Some(1),
    },
    tile_test(Sm80, "gemm_tile_bf16"),
    tile_test(Sm80, "gemm_tile_f32"),
    Entry {
        arch: Sm90a,
        name: "cluster_probe",
        dtype: None,
        mainloop: None,
        threads: 128,
        shared_bytes: cluster_probe::SHARED_BYTES,
        launch_bounds: None,
    },
    // After every forward of their dtype: `moe_forward(.., None)` takes the first.
    lean(Sm90a, "moe_lean_bf16", DType::Bf16),
    lean(Sm90a, "moe_lean_f16", DType::F16),
    lean(Sm80, "moe_lean_bf16", DType::Bf16),
    lean(Sm80, "moe_lean_f16", DType::F16),
    sweep(Sm90a, "moe_sweep_bf16", DType::Bf16),
    sweep(Sm90a, "moe_sweep_f16", DType::F16),
    sweep(Sm80, "moe_sweep_bf16", DType::Bf16),
    sweep(Sm80, "moe_sweep_f16", DType::F16),
];

/// `cluster_probe(map, out, status)` (sm_90a, clusters of 2, 128 threads): each block of a
/// cluster loads half of a [`ROWS`](cluster_probe::ROWS)-row tile by one TMA box multicast to
/// both blocks, copies the whole tile from its shared memory to `out[block]` as it landed
/// (128-byte swizzle), arrives on its partner's barrier and waits for the partner's arrival.
pub mod cluster_probe {
    /// Rows of the tile (64 bf16 = 128 bytes each); each block loads half.
    pub const ROWS: u32 = 128;
    pub const TILE_BYTES: u32 = ROWS * 128;
    /// The tile, then two mbarriers.
    pub const SHARED_BYTES: u32 = TILE_BYTES + 1024;
    /// `status[block]`: its cluster rank in bits 0-7, then these flags, then in bits 16.. the
    /// last step it passed (`STEP_*`, written as it goes: `status` may be host-mapped, so a hung
    /// probe says where each block stopped).
    pub const TILE_LANDED: u32 = 1 << 8;
    pub const PARTNER_ARRIVED: u32 = 1 << 9;
    pub const STEP_STARTED: u32 = 1;
    pub const STEP_CLUSTER_MET: u32 = 2;
    pub const STEP_TILE_WAITED: u32 = 3;
    pub const STEP_PARTNER_WAITED: u32 = 4;
    pub const STEP_DONE: u32 = 5;
    /// Bound on each wait, ns.
    pub const TIMEOUT_NS: u64 = 1_000_000_000;
}

/// The NVSHMEM build (host feature `nvshmem`, never part of [`Arch::ALL`]): the kernel crate
/// for [`NVSHMEM_ARCH`] with its feature `nvshmem`, linked with NVSHMEM's device bitcode
/// (shared/docs/nvshmem.md, route A). Its PTX, `kernels_{NVSHMEM_PTX_STEM}.ptx`, holds every
/// [`ENTRIES`] kernel of [`NVSHMEM_ARCH`] plus [`NVSHMEM_ENTRIES`], and NVSHMEM's two device
/// globals, which `nvshmemx_cumodule_init` looks up.
pub const NVSHMEM_ARCH: Arch = Arch::Sm90a;
/// The NVSHMEM build's PTX file stem.
pub const NVSHMEM_PTX_STEM: &str = "sm_90a_nvshmem";
/// NVSHMEM's device globals that must stay `.visible` in the NVSHMEM build.
pub const NVSHMEM_DEVICE_GLOBALS: [&str; 2] = ["nvshmemi_device_state_d", "nvshmemi_device_lib_version_d"];
/// The kernels only the NVSHMEM build has.
pub const NVSHMEM_ENTRIES: [Entry; 1] =
    [Entry { arch: NVSHMEM_ARCH, name: "nvshmem_probe", dtype: None, mainloop: None, threads: 32, shared_bytes: 0, launch_bounds: None }];

/// `nvshmem_probe(out, buf, bytes, signal)`: one block of one warp; what it writes to `out`.
pub mod nvshmem_probe {
    /// `nvshmem_my_pe()`.
    pub const MY_PE: usize = 0;
    /// `nvshmem_n_pes()`.
    pub const N_PES: usize = 1;
    /// 1 if `nvshmem_ptr(buf, my_pe)` is not null.
    pub const PTR_TO_SELF: usize = 2;
    /// 1 if the signal word reached 1 within [`TIMEOUT_NS`].
    pub const SIGNAL_ARRIVED: usize = 3;
    /// The signal word's last value read (low 32 bits).
    pub const SIGNAL_VALUE: usize = 4;
    /// Bytes of `buf[bytes..2·bytes]` that differ from `buf[..bytes]` after the put.
    pub const MISMATCHED: usize = 5;
    /// Nanoseconds from the put to the end of the wait.
    pub const WAITED_NS: usize = 6;
    /// [`DONE_MAGIC`] once the words above are written.
    pub const DONE: usize = 7;
    pub const DONE_MAGIC: u32 = 0x5eed_0001;
    /// u32 words of `out`.
    pub const WORDS: usize = 8;
    /// The bound on the signal wait.
    pub const TIMEOUT_NS: u64 = 2_000_000_000;
}

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

/// The PTX text with `.maxntid threads, 1, 1` and `.minnctapersm min_blocks` after the parameter
/// list of `entry` (rustc cannot emit them; ptxas needs both to honour setmaxnreg, see
/// shared/docs/hopper-recipes.md). Host side: build.rs patches the PTX with it.
#[cfg(not(target_arch = "nvptx64"))]
pub fn with_launch_bounds(ptx: &str, entry: &'static str, threads: u32, min_blocks: u32) -> Result<String, LaunchBoundsError> {
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
    Ok(format!("{}\n.maxntid {threads}, 1, 1\n.minnctapersm {min_blocks}\n{}", &ptx[..close], &ptx[close..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_build_has_a_forward_per_dtype_and_the_utilities() {
        for arch in Arch::ALL {
            for dtype in [DType::Bf16, DType::F16, DType::F32] {
                // The warp-specialized entries are opt-in until they run (perf log v9).
                let e = moe_forward(arch, dtype, None).unwrap();
                assert_eq!((e.threads, e.shared_bytes, e.launch_bounds), (BLOCK_THREADS, SHARED_BYTES, None), "{e:?}");
                if arch == Sm90a && dtype != DType::F32 {
                    let ws = moe_forward(arch, dtype, Some(WarpSpecialized)).unwrap();
                    assert_eq!((ws.threads, ws.shared_bytes, ws.launch_bounds), (WS_THREADS, WS_SHARED_BYTES, Some(1)));
                }
            }
            assert!(utility_kernel(arch, "smoke_axpy").is_some() && utility_kernel(arch, "copy_v4").is_some());
        }
        assert_eq!(moe_forward(Sm90a, DType::Bf16, None).unwrap().mainloop, Some(Wgmma));
        assert_eq!(moe_forward(Sm90a, DType::Bf16, Some(Wgmma)).unwrap().name, "moe_forward_bf16");
        assert_eq!(moe_forward(Sm90a, DType::Bf16, Some(MmaSync)).unwrap().name, "moe_forward_bf16_mma_sync");
        assert_eq!(moe_forward(Sm80, DType::Bf16, Some(Wgmma)), None);
        for arch in Arch::ALL {
            let lean = moe_forward(arch, DType::F16, Some(MainloopKind::Dots)).unwrap();
            assert_eq!((lean.name, lean.threads, lean.launch_bounds), ("moe_lean_f16", BLOCK_THREADS, None));
            assert_eq!(moe_forward(arch, DType::F32, Some(MainloopKind::Dots)), None);
            let sweep = moe_forward(arch, DType::Bf16, Some(MainloopKind::Sweep)).unwrap();
            let blocks = if arch == Sm90a { 3 } else { 2 };
            assert_eq!((sweep.name, sweep.shared_bytes, sweep.launch_bounds), ("moe_sweep_bf16", LEAN_SHARED_BYTES, Some(blocks)));
            assert!(sweep.mainloop.is_some_and(MainloopKind::lean) && lean.mainloop.is_some_and(MainloopKind::lean));
            assert_eq!(moe_forward(arch, DType::F32, Some(MainloopKind::Sweep)), None);
        }
        assert_eq!(Arch::for_device(9, 0), &[Sm90a, Sm80]);
        assert_eq!(Arch::for_device(8, 6), &[Sm80]);
        assert!(Arch::for_device(7, 5).is_empty() && Arch::for_device(10, 0).is_empty());
        assert!(Arch::ALL.iter().all(|a| a.name() != NVSHMEM_PTX_STEM));
        assert!(NVSHMEM_ENTRIES.iter().all(|e| e.arch == NVSHMEM_ARCH && ENTRIES.iter().all(|d| d.name != e.name)));
        // Names are unique per build.
        for (i, a) in ENTRIES.iter().enumerate() {
            assert!(ENTRIES[i + 1..].iter().all(|b| (a.arch, a.name) != (b.arch, b.name)), "{a:?}");
        }
    }

    #[test]
    fn launch_bounds_are_injected_after_the_parameter_list_of_exactly_one_entry() {
        let ptx = ".visible .entry k_ws(\n\t.param .u64 k_ws_param_0\n)\n{\n\tret;\n}\n.visible .entry k(\n)\n{\n}\n";
        let out = with_launch_bounds(ptx, "k_ws", 384, 1).unwrap();
        assert!(out.contains("k_ws_param_0\n)\n.maxntid 384, 1, 1\n.minnctapersm 1\n\n{"), "{out}");
        assert_eq!(out.matches(".maxntid").count(), 1);
        // `k` is a prefix of `k_ws` but a different entry.
        let k = with_launch_bounds(ptx, "k", 128, 3).unwrap();
        assert!(k.contains(".entry k(\n)\n.maxntid 128, 1, 1\n.minnctapersm 3\n"), "{k}");
        assert_eq!(with_launch_bounds(ptx, "missing", 384, 1), Err(LaunchBoundsError::NoEntry("missing")));
        assert_eq!(with_launch_bounds(&out, "k_ws", 384, 1), Err(LaunchBoundsError::AlreadyBounded("k_ws")));
        let twice = format!("{ptx}{ptx}");
        assert_eq!(with_launch_bounds(&twice, "k_ws", 384, 1), Err(LaunchBoundsError::DuplicateEntry("k_ws")));
    }
}
