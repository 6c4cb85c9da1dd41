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

/// A port nothing listens on now (rank 0's rendezvous binds it next).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
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
