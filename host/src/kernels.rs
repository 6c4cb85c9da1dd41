//! The PTX builds embedded by build.rs (one per [`Arch`] of the kernel crate's entry table), and
//! which of them a device can run.

use flashmoe_kernels::entries::Arch;

use crate::error::{Error, Result};

/// The embedded PTX of `arch`.
pub const fn ptx(arch: Arch) -> &'static str {
    match arch {
        Arch::Sm90a => include_str!(concat!(env!("OUT_DIR"), "/kernels_sm_90a.ptx")),
        Arch::Sm80 => include_str!(concat!(env!("OUT_DIR"), "/kernels_sm_80.ptx")),
    }
}

/// The machine code of `arch` that ptxas made at build time (FLASHMOE_CUBIN=1, host/build.rs), or
/// empty: then the driver compiles [`ptx`] when the module is loaded.
pub const fn cubin(arch: Arch) -> &'static [u8] {
    match arch {
        Arch::Sm90a => include_bytes!(concat!(env!("OUT_DIR"), "/kernels_sm_90a.cubin")),
        Arch::Sm80 => include_bytes!(concat!(env!("OUT_DIR"), "/kernels_sm_80.cubin")),
    }
}

/// [`nvshmem_ptx`] compiled at build time, as [`cubin`].
#[cfg(feature = "nvshmem")]
pub const fn nvshmem_cubin() -> &'static [u8] {
    include_bytes!(concat!(env!("OUT_DIR"), "/kernels_sm_90a_nvshmem.cubin"))
}

/// The NVSHMEM build (feature `nvshmem`): the [`flashmoe_kernels::entries::NVSHMEM_ARCH`] kernels
/// plus [`flashmoe_kernels::entries::NVSHMEM_ENTRIES`], linked with NVSHMEM's device bitcode. Load
/// it, then `nvshmemx_cumodule_init` the module before any launch (shared/docs/nvshmem.md).
#[cfg(feature = "nvshmem")]
pub const fn nvshmem_ptx() -> &'static str {
    include_str!(concat!(env!("OUT_DIR"), "/kernels_sm_90a_nvshmem.ptx"))
}

/// The builds device `gpu` of compute capability `major.minor` can run, best first (9.0: sm_90a
/// then sm_80; 8.x: sm_80); older or unknown devices get a typed error.
pub fn for_compute_capability(gpu: usize, major: i32, minor: i32) -> Result<&'static [Arch]> {
    match Arch::for_device(major, minor) {
        [] => Err(Error::UnsupportedArch { gpu, major, minor }),
        archs => Ok(archs),
    }
}

/// Whether `ptx` declares the kernel entry `name`.
pub fn declares(ptx: &str, name: &str) -> bool {
    ptx.contains(&format!(".visible .entry {name}("))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashmoe_kernels::entries::ENTRIES;

    /// An embedded cubin is an ELF image for its arch; with FLASHMOE_CUBIN=1 at build time every
    /// arch has one.
    #[test]
    fn embedded_cubins_are_elf_images_when_built() {
        let built = option_env!("FLASHMOE_CUBIN") == Some("1");
        for arch in Arch::ALL {
            let c = cubin(arch);
            assert_eq!(c.is_empty(), !built, "{}: {} bytes with FLASHMOE_CUBIN={:?}", arch.name(), c.len(), option_env!("FLASHMOE_CUBIN"));
            assert!(c.is_empty() || c.starts_with(b"\x7fELF"), "{}: not an ELF image", arch.name());
        }
    }

    #[test]
    fn picks_ptx_by_compute_capability() {
        assert_eq!(for_compute_capability(0, 9, 0).unwrap(), &[Arch::Sm90a, Arch::Sm80]);
        assert_eq!(for_compute_capability(0, 8, 0).unwrap(), &[Arch::Sm80]);
        assert_eq!(for_compute_capability(0, 8, 9).unwrap(), &[Arch::Sm80]);
        assert!(matches!(for_compute_capability(3, 7, 5), Err(Error::UnsupportedArch { gpu: 3, major: 7, minor: 5 })));
        assert!(matches!(for_compute_capability(0, 10, 0), Err(Error::UnsupportedArch { .. })));
    }

    #[cfg(feature = "nvshmem")]
    #[test]
    fn the_nvshmem_ptx_has_every_entry_the_device_globals_and_no_extern_function() {
        use flashmoe_kernels::entries::{NVSHMEM_ARCH, NVSHMEM_DEVICE_GLOBALS, NVSHMEM_ENTRIES};
        let ptx = nvshmem_ptx();
        assert!(ptx.contains(&format!(".target {}", NVSHMEM_ARCH.name())));
        for e in ENTRIES.iter().filter(|e| e.arch == NVSHMEM_ARCH).chain(&NVSHMEM_ENTRIES) {
            assert!(declares(ptx, e.name), "{} is not in the NVSHMEM PTX", e.name);
        }
        for g in NVSHMEM_DEVICE_GLOBALS {
            assert!(ptx.lines().any(|l| l.starts_with(".visible .const") && l.contains(&format!(" {g}["))), "{g} is not .visible");
        }
        // NVSHMEM's API inlines; only vprintf/__assertfail could stay external, and the probe
        // reaches neither.
        assert!(!ptx.contains(".extern .func"), "the NVSHMEM PTX calls an external function");
    }

    #[test]
    fn every_table_entry_is_in_its_ptx_and_every_ptx_targets_its_arch() {
        for arch in Arch::ALL {
            assert!(ptx(arch).contains(&format!(".target {}", arch.name())), "{} PTX has the wrong .target", arch.name());
        }
        for e in ENTRIES {
            assert!(declares(ptx(e.arch), e.name), "{} is in the entry table but not in the {} PTX", e.name, e.arch.name());
        }
        // And no MoE entry of a PTX is missing from the table.
        for arch in Arch::ALL {
            for line in ptx(arch).lines().filter(|l| l.starts_with(".visible .entry ")) {
                let name = &line[".visible .entry ".len()..line.find('(').unwrap_or(line.len())];
                assert!(ENTRIES.iter().any(|e| e.arch == arch && e.name == name), "{name} ({}) is not in the entry table", arch.name());
            }
        }
    }
}
