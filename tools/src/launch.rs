//! `flashmoe launch`: starts one process per GPU of this node with the torchrun environment
//! (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and supervises
//! them: when one fails, the others are stopped, so a dead rank never leaves the rest waiting.

use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use flashmoe::dist::DistEnv;
use flashmoe::error::{Error, Result};

/// What to start: `per_node` copies of `command` as node `node` of `nodes`.
pub struct Launch {
    pub per_node: usize,
    pub nodes: usize,
    pub node: usize,
    pub master_addr: String,
    /// None: a free port of this machine (one node only).
    pub master_port: Option<u16>,
    pub command: Vec<String>,
}

fn invalid(what: String) -> Error {
    Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, what))
}

/// A port nothing listens on now, for rank 0's rendezvous, below the kernel's ephemeral range.
/// A port from that range (what binding port 0 gives) can be handed to another socket before
/// rank 0 binds it, e.g. to another rank's own attempt to connect to it (a TCP self-connect):
/// rank 0 then failed with "Address already in use" twice in ~50 launches (perf log v32).
fn free_port() -> Result<u16> {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok().and_then(|t| ephemeral_low(&t));
    let seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut below = candidate_ports(low.unwrap_or(32768), seed);
    if let Some(port) = below.find(|&p| std::net::TcpListener::bind(("0.0.0.0", p)).is_ok()) {
        return Ok(port);
    }
    Ok(std::net::TcpListener::bind("0.0.0.0:0")?.local_addr()?.port())
}

/// The low end of `/proc/sys/net/ipv4/ip_local_port_range` ("low high").
fn ephemeral_low(text: &str) -> Option<u16> {
    let mut it = text.split_whitespace().map(str::parse::<u16>);
    match (it.next(), it.next()) {
        (Some(Ok(low)), Some(Ok(high))) if low <= high => Some(low),
        _ => None,
    }
}

/// Up to 64 consecutive ports to try (wrapping), below `ephemeral_low` and at least 1024 (in the
/// 12288 ports below it), from a point picked by `seed`.
fn candidate_ports(ephemeral_low: u16, seed: u64) -> impl Iterator<Item = u16> {
    let low = ephemeral_low.saturating_sub(12288).max(1024);
    let span = u64::from(ephemeral_low.saturating_sub(low));
    (0..span.min(64)).map(move |i| low + (seed.wrapping_add(i) % span) as u16)
}

/// Runs the processes to the end; the exit code is 0 when all succeed, else the first failure's
/// (128 + signal for a killed process).
pub fn run(l: &Launch) -> Result<i32> {
    if l.per_node == 0 || l.nodes == 0 || l.node >= l.nodes {
        return Err(invalid(format!("launch: {} processes per node, node {} of {}", l.per_node, l.node, l.nodes)));
    }
    let Some((program, args)) = l.command.split_first() else { return Err(invalid("launch: no command after `--`".into())) };
    let port = match (l.master_port, l.nodes) {
        (Some(p), _) => p,
        (None, 1) => free_port()?,
        (None, _) => return Err(invalid("launch: --master-port is needed with more than one node".into())),
    };
    let mut children: Vec<Child> = Vec::with_capacity(l.per_node);
    for local in 0..l.per_node {
        let vars = DistEnv::launch_vars(l.node, l.per_node, l.nodes, local, &l.master_addr, port);
        let mut cmd = Command::new(program);
        cmd.args(args).envs(vars);
        // Each rank in a process group of its own, so stopping it stops what it started too.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        match cmd.spawn() {
            Ok(c) => children.push(c),
            Err(e) => {
                stop(&mut children);
                return Err(invalid(format!("launch: cannot start `{program}`: {e}")));
            }
        }
    }
    supervise(children)
}

fn code(s: ExitStatus) -> i32 {
    #[cfg(unix)]
    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&s) {
        return 128 + sig;
    }
    s.code().unwrap_or(1)
}

fn stop(children: &mut [Child]) {
    for c in children.iter_mut() {
        #[cfg(unix)]
        if let Ok(pgid) = i32::try_from(c.id()) {
            // SAFETY: kill(2) on the rank's own process group (created at spawn); no memory involved.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _ = c.kill();
    }
    for c in children.iter_mut() {
        let _ = c.wait();
    }
}

/// A SIGINT or SIGTERM the launcher received (0: none). The ranks run in process groups of their
/// own, so a terminal's Ctrl-C reaches only the launcher, which passes it on by stopping them.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

#[cfg(unix)]
extern "C" fn on_signal(sig: i32) {
    SIGNAL.store(sig, Ordering::Relaxed);
}

fn supervise(mut children: Vec<Child>) -> Result<i32> {
    #[cfg(unix)]
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let mut done = vec![false; children.len()];
    while done.iter().any(|d| !d) {
        let sig = SIGNAL.load(Ordering::Relaxed);
        if sig != 0 {
            eprintln!("flashmoe launch: signal {sig}; stopping every rank");
            stop(&mut children);
            return Ok(128 + sig);
        }
        for (i, c) in children.iter_mut().enumerate() {
            if done[i] {
                continue;
            }
            if let Some(status) = c.try_wait()? {
                done[i] = true;
                if !status.success() {
                    eprintln!("flashmoe launch: local rank {i} exited with {status}; stopping the others");
                    stop(&mut children);
                    return Ok(code(status));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ephemeral_range_is_read_from_procfs_text() {
        assert_eq!(ephemeral_low("32768\t60999\n"), Some(32768));
        assert_eq!(ephemeral_low("1024 65535"), Some(1024));
        assert_eq!(ephemeral_low("60999 32768"), None);
        assert_eq!(ephemeral_low("garbage"), None);
        assert_eq!(ephemeral_low(""), None);
    }

    #[test]
    fn rendezvous_ports_are_tried_below_the_ephemeral_range() {
        for seed in [0, 1, 12287, 12288, u64::MAX] {
            let ports: Vec<u16> = candidate_ports(32768, seed).collect();
            assert_eq!(ports.len(), 64);
            assert!(ports.iter().all(|&p| (20480..32768).contains(&p)), "{ports:?}");
            let mut distinct = ports.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 64, "{ports:?}");
        }
        // A range that starts low leaves few or no ports below it: the caller falls back to port 0.
        assert_eq!(candidate_ports(1050, 7).count(), 26);
        assert!(candidate_ports(1050, 7).all(|p| (1024..1050).contains(&p)));
        assert_eq!(candidate_ports(1024, 7).count(), 0);
        assert_eq!(candidate_ports(0, 7).count(), 0);
    }
}
