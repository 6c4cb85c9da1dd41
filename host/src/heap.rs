//! The symmetric heap: one allocation per GPU, same size and layout everywhere, so a kernel finds
//! a peer's region at `heaps[peer] + offset`. Allocated with cuMemAlloc (peer-mappable once peer
//! access is on), never from the stream-ordered pool, which peers cannot reach.

use std::sync::Arc;

use flashmoe_kernels::layout::MAX_WORLD;

use crate::driver::{Context, DeviceBuffer};
use crate::error::Result;

#[derive(Debug)]
pub struct SymmetricHeap {
    buffers: Vec<DeviceBuffer>,
}

impl SymmetricHeap {
    /// Gives up the buffers without freeing them: a kernel that would not stop may still use
    /// them, and freeing would wait for it (cuMemFree synchronizes).
    pub fn leak(&mut self) {
        self.buffers.drain(..).for_each(std::mem::forget);
    }

    /// `bytes` on every GPU, zeroed (flags start at epoch 0, "never written").
    pub fn new(contexts: &[Arc<Context>], bytes: usize) -> Result<Self> {
        let buffers = contexts
            .iter()
            .map(|ctx| {
                let b = DeviceBuffer::alloc(ctx, bytes)?;
                b.fill(0, bytes, 0)?;
                Ok(b)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SymmetricHeap { buffers })
    }

    pub fn bytes(&self) -> usize {
        self.buffers.first().map_or(0, |b| b.bytes())
    }

    /// Every GPU's heap, by rank.
    pub fn buffers(&self) -> &[DeviceBuffer] {
        &self.buffers
    }

    /// Base address of every GPU's heap, by rank (unused ranks 0).
    pub fn bases(&self) -> [u64; MAX_WORLD] {
        let mut b = [0; MAX_WORLD];
        for (i, buf) in self.buffers.iter().enumerate() {
            b[i] = buf.ptr();
        }
        b
    }

    /// Zeroes `[offset, offset + len)` on every GPU (no kernel may be running).
    pub fn clear(&self, offset: u64, len: u64) -> Result<()> {
        for b in &self.buffers {
            b.fill(offset as usize, len as usize, 0)?;
        }
        Ok(())
    }
}
