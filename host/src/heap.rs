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
    /// NVSHMEM's allocations behind `buffers` and the outbox (feature `nvshmem`), freed
    /// (collectively, in reverse) on drop.
    #[cfg(feature = "nvshmem")]
    nvshmem: Option<(Arc<crate::dist::NvshmemHost>, Vec<u64>)>,
    /// Every rank's heap as this GPU addresses it, when other processes own some (NVSHMEM's
    /// heap with several PEs: `nvshmem_ptr`, or this GPU's outbox for a rank reached by puts);
    /// empty: the ranks are `buffers`.
    peers: Vec<u64>,
    /// Bit r: rank r is reached by NVSHMEM puts (`MoeParams::put_peers`).
    put_peers: u32,
}

impl SymmetricHeap {
    /// Gives up the buffers without freeing them: a kernel that would not stop may still use
    /// them, and freeing would wait for it (cuMemFree synchronizes).
    pub fn leak(&mut self) {
        self.buffers.drain(..).for_each(std::mem::forget);
        #[cfg(feature = "nvshmem")]
        {
            self.nvshmem = None;
        }
    }

    /// After a failed forward: NVSHMEM's collectives (this heap's free among them) are skipped
    /// from now on ([`crate::dist::NvshmemHost::abandon_collectives`]). Nothing on a heap that
    /// is not NVSHMEM's.
    pub fn abandon_collectives(&self) {
        #[cfg(feature = "nvshmem")]
        if let Some((host, _)) = &self.nvshmem {
            host.abandon_collectives();
        }
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
        Ok(SymmetricHeap {
            buffers,
            #[cfg(feature = "nvshmem")]
            nvshmem: None,
            peers: Vec::new(),
            put_peers: 0,
        })
    }

    /// `bytes` (at least 256) of NVSHMEM's symmetric heap for this process's one GPU, zeroed:
    /// `nvshmem_malloc` is collective, so every PE grows its heap in the same order. The kernels
    /// keep their direct loads and stores where a peer's heap is mapped (`nvshmem_ptr`); a peer
    /// `route` reaches by puts gets an outbox here instead (one heap-sized slice per rank of a
    /// second symmetric allocation, made by every rank when `route.outbox` says so), which the
    /// kernel writes and puts from. Returns after every PE zeroed its heap
    /// (`nvshmem_barrier_all`), so no peer's first forward writes into a heap still being cleared.
    #[cfg(feature = "nvshmem")]
    pub fn nvshmem(host: &Arc<crate::dist::NvshmemHost>, ctx: &Arc<Context>, bytes: usize, route: crate::dist::PutRoute) -> Result<Self> {
        use crate::dist::{DistError, Transport};
        ctx.bind()?;
        let len = bytes.max(256);
        let ptr = host.malloc(len)?;
        let (me, pes) = host.pe()?;
        // SAFETY: NVSHMEM's allocation on this context's device, freed only in Drop below, after
        // the view.
        let b = unsafe { DeviceBuffer::borrowed(ctx, ptr, len) };
        let mut heap =
            SymmetricHeap { buffers: vec![b], nvshmem: Some((host.clone(), vec![ptr])), peers: Vec::with_capacity(pes), put_peers: 0 };
        let outbox = if route.outbox(pes) {
            let o = host.malloc(len * pes)?;
            if let Some((_, ptrs)) = heap.nvshmem.as_mut() {
                ptrs.push(o);
            }
            Some(o)
        } else {
            None
        };
        let mapped = (0..pes).map(|pe| host.ptr(ptr, pe)).collect::<std::result::Result<Vec<_>, _>>()?;
        let is_mapped: Vec<bool> = mapped.iter().map(Option::is_some).collect();
        for (pe, t) in route.transports(me, &is_mapped).into_iter().enumerate() {
            let base = match (t, outbox) {
                (Transport::Put, Some(o)) => {
                    heap.put_peers |= 1 << pe;
                    Some(o + (pe * len) as u64)
                }
                (Transport::Put, None) => None,
                _ => mapped[pe],
            };
            heap.peers.push(base.ok_or(DistError::PeerUnreachable { peer: pe })?);
        }
        heap.buffers[0].fill(0, len, 0)?;
        host.barrier_all()?;
        Ok(heap)
    }

    /// Bit r: rank r is reached by NVSHMEM puts through this GPU's outbox for it.
    pub fn put_peers(&self) -> u32 {
        self.put_peers
    }

    pub fn bytes(&self) -> usize {
        self.buffers.first().map_or(0, |b| b.bytes())
    }

    /// Every GPU's heap, by rank.
    pub fn buffers(&self) -> &[DeviceBuffer] {
        &self.buffers
    }

    /// Base address of every rank's heap as this process's GPUs address it (unused ranks 0).
    pub fn bases(&self) -> [u64; MAX_WORLD] {
        let mut b = [0; MAX_WORLD];
        if self.peers.is_empty() {
            for (i, buf) in self.buffers.iter().enumerate() {
                b[i] = buf.ptr();
            }
        } else {
            b[..self.peers.len()].copy_from_slice(&self.peers);
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

#[cfg(feature = "nvshmem")]
impl Drop for SymmetricHeap {
    fn drop(&mut self) {
        self.buffers.clear();
        if let Some((host, ptrs)) = self.nvshmem.take() {
            // Teardown has nowhere to report to; a leaked heap is the safe failure.
            for ptr in ptrs.into_iter().rev() {
                let _ = host.free(ptr);
            }
        }
    }
}
