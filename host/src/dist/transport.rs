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

/// How a multi-process heap chooses its transports: every rank must decide alike whether it
/// allocates an outbox (a collective `nvshmem_malloc`), so that follows from facts all share.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PutRoute {
    /// Puts to every other rank, even where stores would do (`FLASHMOE_TRANSPORT=put`).
    pub force: bool,
    /// Processes per node: ranks `n · local_world ..` share node n (torchrun's numbering).
    pub local_world: usize,
}

impl PutRoute {
    /// Whether every rank allocates an outbox: when puts are forced or the world spans nodes.
    pub fn outbox(&self, world: usize) -> bool {
        self.force || world > self.local_world.max(1)
    }

    /// The transport to every rank from rank `me`, whose GPU maps rank r's heap where
    /// `mapped[r]` ([`transports`] with each rank's node).
    pub fn transports(&self, me: usize, mapped: &[bool]) -> Vec<Transport> {
        let per_node = self.local_world.max(1);
        let places: Vec<PeerPlace> =
            mapped.iter().enumerate().map(|(r, &m)| PeerPlace { node: r / per_node, peer_access: m || r == me }).collect();
        transports(me, &places, self.force)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Transport::{Direct, Local, Put};

    #[test]
    fn routes_by_node_mapping_and_force() {
        let one_node = PutRoute { force: false, local_world: 4 };
        assert!(!one_node.outbox(4));
        assert_eq!(one_node.transports(1, &[true; 4]), [Direct, Local, Direct, Direct]);
        // A GPU of the node that NVSHMEM cannot map needs puts (and there is no outbox: an error).
        assert_eq!(one_node.transports(0, &[true, false, true, true]), [Local, Put, Direct, Direct]);
        let forced = PutRoute { force: true, ..one_node };
        assert!(forced.outbox(4));
        assert_eq!(forced.transports(2, &[true; 4]), [Put, Put, Local, Put]);
        // Two nodes of two: the other node by puts even where mapped (multi-node NVLink).
        let two_nodes = PutRoute { force: false, local_world: 2 };
        assert!(two_nodes.outbox(4));
        assert_eq!(two_nodes.transports(3, &[true, false, true, true]), [Put, Put, Direct, Local]);
    }

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
