//! A warpgroup that synchronises on its own named barrier: the role warpgroup (barrier 1: the
//! whole block of a 128-thread kernel, warpgroup 0 of a warp-specialized one) or a consumer
//! warpgroup (barriers 2, 3). Code that runs in either shape takes one.

use crate::ptx::sync;
use crate::util::thread_idx;

/// This thread's index in its warpgroup, read from `%tid.x` again at each use: through LLVM's
/// intrinsic, one read served the whole warp-specialized entry, and ptxas spilled it there (40 of
/// its 40 spill bytes, perf log v23). The NVSHMEM build (llvm-link, opt, llc) keeps the
/// intrinsic: with the re-read its ws entries spilled 196 bytes instead of 48.
#[inline(always)]
pub fn warpgroup_tid() -> u32 {
    if cfg!(feature = "nvshmem") { thread_idx() % 128 } else { crate::ptx::warp::tid_x_reread() % 128 }
}

#[derive(Clone, Copy)]
pub struct Group {
    /// Shared address of 4 words the group broadcasts through.
    pub words: u32,
}

impl Group {
    /// This thread's warpgroup, with `words` to broadcast through; its named barrier is
    /// warpgroup index + 1.
    #[inline(always)]
    pub fn this(words: u32) -> Group {
        Group { words }
    }

    /// This thread's index in the warpgroup (0..128). It and the barrier are read from the
    /// thread index at each use: as fields they stayed live through the consumers' whole task
    /// loop and were spilled (perf log v12). See [`warpgroup_tid`].
    #[inline(always)]
    pub fn tid(&self) -> u32 {
        warpgroup_tid()
    }

    #[inline(always)]
    fn barrier(&self) -> u32 {
        thread_idx() / 128 + 1
    }

    #[inline(always)]
    pub fn sync(&self) {
        sync::sync_warpgroup(self.barrier())
    }

    /// A barrier that tells every thread whether `pred` held on any.
    #[inline(always)]
    pub fn sync_or(&self, pred: bool) -> bool {
        sync::sync_warpgroup_or(self.barrier(), pred)
    }
}
