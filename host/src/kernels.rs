//! The PTX built by build.rs, and the choice of PTX for a device.

use crate::error::{Error, Result};

/// A PTX build of the kernel crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PtxTarget {
    /// The `-arch` ptxas and the JIT compile it for.
    pub arch: &'static str,
    pub ptx: &'static str,
}

/// Hopper (H100/H200): `sm_90a`, which also enables wgmma and setmaxnreg.
pub const SM90A: PtxTarget = PtxTarget { arch: "sm_90a", ptx: include_str!(concat!(env!("OUT_DIR"), "/kernels_sm_90a.ptx")) };

/// Ampere and later 8.x parts: `sm_80` (mma.sync path).
pub const SM80: PtxTarget = PtxTarget { arch: "sm_80", ptx: include_str!(concat!(env!("OUT_DIR"), "/kernels_sm_80.ptx")) };

/// Every embedded PTX build.
pub const ALL: [PtxTarget; 2] = [SM90A, SM80];

/// The PTX for a device of compute capability `major.minor`: 9.0 -> sm_90a, 8.x -> sm_80.
pub fn for_compute_capability(gpu: usize, major: i32, minor: i32) -> Result<PtxTarget> {
    match (major, minor) {
        (9, 0) => Ok(SM90A),
        (8, _) => Ok(SM80),
        _ => Err(Error::UnsupportedArch { gpu, major, minor }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_ptx_by_compute_capability() {
        assert_eq!(for_compute_capability(0, 9, 0).unwrap().arch, "sm_90a");
        assert_eq!(for_compute_capability(0, 8, 0).unwrap().arch, "sm_80");
        assert_eq!(for_compute_capability(0, 8, 9).unwrap().arch, "sm_80");
        assert!(matches!(for_compute_capability(3, 7, 5), Err(Error::UnsupportedArch { gpu: 3, major: 7, minor: 5 })));
        assert!(matches!(for_compute_capability(0, 10, 0), Err(Error::UnsupportedArch { .. })));
    }

    #[test]
    fn embedded_ptx_targets_their_arch() {
        for t in ALL {
            assert!(t.ptx.contains(&format!(".target {}", t.arch)), "{} PTX has the wrong .target", t.arch);
            assert!(t.ptx.contains(".visible .entry smoke_axpy("));
            assert!(t.ptx.contains(".visible .entry copy_v4("));
        }
    }
}
