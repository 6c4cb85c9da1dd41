//! Which transport reaches each peer: the kernel's own loads and stores where a peer's memory is
//! mapped into this GPU's address space (the same node: CUDA peer access in one process,
//! `nvshmem_ptr` across processes), NVSHMEM puts with signals where it is not (other nodes).

/// How this rank's kernel reaches one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// This rank itself.
    Local,
    /// Loads and stores through a mapped address (NVLink / PCIe peer access).
    Direct,
    /// Device-initiated NVSHMEM put-with-signal (through NVSHMEM's proxy across nodes).
    Put,
}

/// Where a rank runs: its node, and whether its GPU maps the other GPUs of that node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerPlace {
    pub node: usize,
    pub peer_access: bool,
}

/// The transport from rank `me` to every rank of `places`: direct within a node where both GPUs
/// have peer access, puts otherwise; `force_put` takes puts for every other rank (to measure and
/// test the put path inside one node).
pub fn transports(me: usize, places: &[PeerPlace], force_put: bool) -> Vec<Transport> {
    let mine = places[me];
    places
        .iter()
        .enumerate()
        .map(|(r, p)| {
            if r == me {
                Transport::Local
            } else if !force_put && p.node == mine.node && p.peer_access && mine.peer_access {
                Transport::Direct
            } else {
                Transport::Put
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Transport::{Direct, Local, Put};

    #[test]
    fn mixed_nodes_and_peer_access() {
        let at = |node, peer_access| PeerPlace { node, peer_access };
        // Two nodes of two GPUs; rank 3's GPU has no peer access.
        let places = [at(0, true), at(0, true), at(1, true), at(1, false)];
        assert_eq!(transports(0, &places, false), [Local, Direct, Put, Put]);
        assert_eq!(transports(2, &places, false), [Put, Put, Local, Put]);
        assert_eq!(transports(3, &places, false), [Put, Put, Put, Local]);
        assert_eq!(transports(1, &places, true), [Put, Local, Put, Put]);
        assert_eq!(transports(0, &[at(0, true)], false), [Local]);
    }
}
