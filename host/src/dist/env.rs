//! Which process this is, from the environment the usual launchers set.

use std::collections::HashMap;

use super::DistError;

/// The launcher a process's rank came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launcher {
    /// torchrun and `flashmoe launch`: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE.
    Torchrun,
    /// Open MPI's mpirun: OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE}.
    OpenMpi,
    /// Slurm's srun: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE.
    Slurm,
}

/// This process's place in a multi-process run and where the ranks meet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistEnv {
    pub rank: usize,
    pub world_size: usize,
    /// Rank on this node: the GPU ordinal this process drives.
    pub local_rank: usize,
    pub local_world_size: usize,
    /// Where rank 0 listens for the rendezvous (MASTER_ADDR:MASTER_PORT).
    pub master_addr: String,
    pub master_port: u16,
    pub launcher: Launcher,
    /// `FLASHMOE_TRANSPORT=put`: NVSHMEM puts to every other rank, even within a node (to test
    /// and measure the inter-node path on one node); `auto` or unset: stores where mapped.
    pub force_put: bool,
}

/// (rank, world, local rank, local world) variable names of each launcher, first match wins.
const NAMES: [(Launcher, [&str; 4]); 3] = [
    (Launcher::Torchrun, ["RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"]),
    (Launcher::OpenMpi, ["OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"]),
    (Launcher::Slurm, ["SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"]),
];

impl DistEnv {
    /// From this process's environment; None when no launcher variables are set (single-process
    /// mode).
    pub fn from_process() -> Result<Option<DistEnv>, DistError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// From a set of variables (the rules of [`Self::from_process`], testable).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Option<DistEnv>, DistError> {
        let Some((launcher, names)) = NAMES.iter().find(|(_, n)| vars.contains_key(n[0])) else {
            return Ok(None);
        };
        let number = |name: &'static str| -> Result<usize, DistError> {
            let value = vars.get(name).ok_or(DistError::MissingVar { name })?;
            // Slurm writes SLURM_NTASKS_PER_NODE as e.g. "4(x2)" for 2 nodes of 4: the count leads.
            let digits = value.split('(').next().unwrap_or("").trim();
            digits.parse().map_err(|_| DistError::BadVar { name, value: value.clone(), expected: "a non-negative integer" })
        };
        let (rank, world_size) = (number(names[0])?, number(names[1])?);
        let local_world_size = number(names[3])?;
        let local_rank = number(names[2])?;
        if world_size == 0 || rank >= world_size {
            return Err(DistError::RankOutOfRange { rank, world: world_size });
        }
        if local_world_size == 0 || local_rank >= local_world_size {
            return Err(DistError::LocalRankOutOfRange { local_rank, local_world: local_world_size });
        }
        let master_addr = vars.get("MASTER_ADDR").cloned().ok_or(DistError::MissingVar { name: "MASTER_ADDR" })?;
        let port = vars.get("MASTER_PORT").ok_or(DistError::MissingVar { name: "MASTER_PORT" })?;
        let master_port = port.trim().parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| DistError::BadVar {
            name: "MASTER_PORT",
            value: port.clone(),
            expected: "a port number (1-65535)",
        })?;
        let force_put = match vars.get("FLASHMOE_TRANSPORT").map(|v| v.trim()) {
            None | Some("") | Some("auto") => false,
            Some("put") => true,
            Some(other) => {
                return Err(DistError::BadVar { name: "FLASHMOE_TRANSPORT", value: other.to_string(), expected: "`auto` or `put`" });
            }
        };
        Ok(Some(DistEnv { rank, world_size, local_rank, local_world_size, master_addr, master_port, launcher: *launcher, force_put }))
    }

    /// The variables `flashmoe launch` sets for local process `local_rank` of node `node` (of
    /// `nodes`, `per_node` processes each): the torchrun set.
    pub fn launch_vars(node: usize, per_node: usize, nodes: usize, local_rank: usize, addr: &str, port: u16) -> Vec<(String, String)> {
        [
            ("RANK", node * per_node + local_rank),
            ("WORLD_SIZE", nodes * per_node),
            ("LOCAL_RANK", local_rank),
            ("LOCAL_WORLD_SIZE", per_node),
            ("GROUP_RANK", node),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([("MASTER_ADDR".to_string(), addr.to_string()), ("MASTER_PORT".to_string(), port.to_string())])
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const MASTER: [(&str, &str); 2] = [("MASTER_ADDR", "10.0.0.1"), ("MASTER_PORT", "29500")];

    #[test]
    fn no_launcher_means_single_process() {
        assert_eq!(DistEnv::from_vars(&vars(&[("PATH", "/bin")])).unwrap(), None);
    }

    #[test]
    fn each_launcher_is_read() {
        let torchrun = [("RANK", "5"), ("WORLD_SIZE", "8"), ("LOCAL_RANK", "1"), ("LOCAL_WORLD_SIZE", "4"), MASTER[0], MASTER[1]];
        let e = DistEnv::from_vars(&vars(&torchrun)).unwrap().unwrap();
        assert_eq!((e.rank, e.world_size, e.local_rank, e.local_world_size, e.launcher), (5, 8, 1, 4, Launcher::Torchrun));
        assert_eq!((e.master_addr.as_str(), e.master_port), ("10.0.0.1", 29500));
        let mpi = [
            ("OMPI_COMM_WORLD_RANK", "3"),
            ("OMPI_COMM_WORLD_SIZE", "4"),
            ("OMPI_COMM_WORLD_LOCAL_RANK", "3"),
            ("OMPI_COMM_WORLD_LOCAL_SIZE", "4"),
            MASTER[0],
            MASTER[1],
        ];
        assert_eq!(DistEnv::from_vars(&vars(&mpi)).unwrap().unwrap().launcher, Launcher::OpenMpi);
        let slurm = [
            ("SLURM_PROCID", "6"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_LOCALID", "2"),
            ("SLURM_NTASKS_PER_NODE", "4(x2)"),
            MASTER[0],
            MASTER[1],
        ];
        let e = DistEnv::from_vars(&vars(&slurm)).unwrap().unwrap();
        assert_eq!((e.rank, e.local_world_size, e.launcher), (6, 4, Launcher::Slurm));
    }

    #[test]
    fn bad_environments_name_the_variable() {
        let e = DistEnv::from_vars(&vars(&[("RANK", "0"), ("WORLD_SIZE", "2")])).unwrap_err();
        assert!(matches!(e, DistError::MissingVar { name: "LOCAL_WORLD_SIZE" }), "{e}");
        let e =
            DistEnv::from_vars(&vars(&[("RANK", "x"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "2")])).unwrap_err();
        assert!(matches!(e, DistError::BadVar { name: "RANK", .. }), "{e}");
        let e =
            DistEnv::from_vars(&vars(&[("RANK", "2"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "2")])).unwrap_err();
        assert!(matches!(e, DistError::RankOutOfRange { rank: 2, world: 2 }), "{e}");
        let e =
            DistEnv::from_vars(&vars(&[("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "2"), ("LOCAL_WORLD_SIZE", "2")])).unwrap_err();
        assert!(matches!(e, DistError::LocalRankOutOfRange { .. }), "{e}");
        let e = DistEnv::from_vars(&vars(&[("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "1"), ("LOCAL_WORLD_SIZE", "2"), MASTER[0]]))
            .unwrap_err();
        assert!(matches!(e, DistError::MissingVar { name: "MASTER_PORT" }), "{e}");
        let e = DistEnv::from_vars(&vars(&[
            ("RANK", "1"),
            ("WORLD_SIZE", "2"),
            ("LOCAL_RANK", "1"),
            ("LOCAL_WORLD_SIZE", "2"),
            MASTER[0],
            ("MASTER_PORT", "0"),
        ]))
        .unwrap_err();
        assert!(matches!(e, DistError::BadVar { name: "MASTER_PORT", .. }), "{e}");
    }

    #[test]
    fn the_transport_variable() {
        let base = [("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "2"), MASTER[0], MASTER[1]];
        let with = |t: &str| {
            let mut v = vars(&base);
            v.insert("FLASHMOE_TRANSPORT".into(), t.into());
            DistEnv::from_vars(&v)
        };
        assert!(!DistEnv::from_vars(&vars(&base)).unwrap().unwrap().force_put);
        assert!(!with("auto").unwrap().unwrap().force_put);
        assert!(with("put").unwrap().unwrap().force_put);
        assert!(matches!(with("nvlink").unwrap_err(), DistError::BadVar { name: "FLASHMOE_TRANSPORT", .. }));
    }

    #[test]
    fn launch_vars_round_trip() {
        let set: HashMap<String, String> = DistEnv::launch_vars(1, 4, 2, 3, "127.0.0.1", 29511).into_iter().collect();
        let e = DistEnv::from_vars(&set).unwrap().unwrap();
        assert_eq!((e.rank, e.world_size, e.local_rank, e.local_world_size, e.master_port), (7, 8, 3, 4, 29511));
    }
}
