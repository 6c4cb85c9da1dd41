//! The symmetric heap: one allocation per GPU, same size and layout everywhere, so a kernel finds
//! a peer's region at `heaps[peer] + offset`. Allocated with cuMemAlloc (peer-mappable once peer
//! access is on), never from the stream-ordered pool, which peers cannot reach.

use flashmoe_kernels::layout::{Control, MAX_WORLD};

use crate::device::Cluster;
use crate::driver::DeviceBuffer;
use crate::error::Result;

#[derive(Debug)]
pub struct SymmetricHeap {
    buffers: Vec<DeviceBuffer>,
}

impl SymmetricHeap {
    /// `bytes` on every GPU of `cluster`, zeroed (flags start at epoch 0, "never written").
    pub fn new(cluster: &Cluster, bytes: usize) -> Result<Self> {
        let buffers = cluster
            .gpus()
            .iter()
            .map(|g| {
                let b = DeviceBuffer::alloc(g.context(), bytes)?;
                b.fill(0, bytes, 0)?;
                Ok(b)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SymmetricHeap { buffers })
    }

    pub fn bytes(&self) -> usize {
        self.buffers.first().map_or(0, |b| b.bytes())
    }

    /// Base address of every GPU's heap, by rank (unused ranks 0).
    pub fn bases(&self) -> [u64; MAX_WORLD] {
        let mut b = [0; MAX_WORLD];
        for (i, buf) in self.buffers.iter().enumerate() {
            b[i] = buf.ptr();
        }
        b
    }

    /// Zeroes every GPU's [`Control`] block at `offset` (after a failed launch left it mid-barrier).
    pub fn reset_control(&self, offset: u64) -> Result<()> {
        for b in &self.buffers {
            b.fill(offset as usize, std::mem::size_of::<Control>(), 0)?;
        }
        Ok(())
    }
}
