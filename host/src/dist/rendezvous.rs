//! The rendezvous: rank 0 listens at MASTER_ADDR:MASTER_PORT, every other rank connects (in any
//! order, retrying until the root is up) and says who it is; once all have arrived the root sends
//! each the same bootstrap bytes (NVSHMEM's unique id). Every wait has a deadline, and a rank that
//! never arrives is named in the root's error; the others then see the root close and fail too.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::DistError;

/// Most bootstrap bytes a rendezvous carries (an NVSHMEM unique id is 128).
pub const BOOTSTRAP_BYTES: usize = 4096;
const MAGIC: &[u8; 8] = b"FLMOE-RV";
const VERSION: u32 = 1;
/// Between connection attempts to a root that is not listening yet.
const RETRY: Duration = Duration::from_millis(50);
/// Between attempts to listen on a port that is in use.
const BIND_RETRY: Duration = Duration::from_millis(20);

/// Rank 0's side: a bound listener (bind first, so a test or launcher can learn the port).
pub struct Rendezvous {
    listener: TcpListener,
    addr: String,
}

impl Rendezvous {
    /// Listens on every interface at `port` (0: any free port, see [`Self::port`]). A port in use
    /// is tried again until `timeout`: another rank's connection attempt may hold it for a moment
    /// (a TCP self-connect, which [`rendezvous`] drops), and a launcher's free port may still be
    /// closing.
    pub fn bind(port: u16, timeout: Duration) -> Result<Rendezvous, DistError> {
        let addr = format!("0.0.0.0:{port}");
        let start = Instant::now();
        loop {
            match TcpListener::bind(&addr) {
                Ok(listener) => return Ok(Rendezvous { listener, addr }),
                Err(e) if e.kind() == ErrorKind::AddrInUse && start.elapsed() + BIND_RETRY < timeout => std::thread::sleep(BIND_RETRY),
                Err(source) => return Err(DistError::Io { addr, source }),
            }
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> Result<u16, DistError> {
        self.listener.local_addr().map(|a| a.port()).map_err(|source| DistError::Io { addr: self.addr.clone(), source })
    }

    /// Waits until ranks 1..world have all said hello, then sends each `payload`. Ranks that did
    /// not arrive by `timeout` are named in the error (and the ones that did get nothing: their
    /// connections close, so they fail at once instead of waiting out their own deadline).
    pub fn serve(self, world: usize, payload: &[u8], timeout: Duration) -> Result<(), DistError> {
        let addr = self.addr;
        let io = |source| DistError::Io { addr: addr.clone(), source };
        if payload.len() > BOOTSTRAP_BYTES {
            return Err(DistError::Protocol { addr, what: format!("{} bootstrap bytes, at most {BOOTSTRAP_BYTES}", payload.len()) });
        }
        let start = Instant::now();
        self.listener.set_nonblocking(true).map_err(io)?;
        let mut peers: Vec<Option<TcpStream>> = (0..world).map(|_| None).collect();
        while peers.iter().skip(1).any(Option::is_none) {
            if start.elapsed() > timeout {
                let missing = (1..world).filter(|&r| peers[r].is_none()).collect();
                return Err(DistError::RanksMissing { addr, missing, world, waited: start.elapsed() });
            }
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).map_err(io)?;
                    stream.set_read_timeout(Some(remaining(start, timeout))).map_err(io)?;
                    let rank = read_hello(&mut stream, world).map_err(|what| DistError::Protocol { addr: addr.clone(), what })?;
                    if peers[rank].is_some() {
                        return Err(DistError::Protocol { addr, what: format!("rank {rank} arrived twice") });
                    }
                    peers[rank] = Some(stream);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => return Err(io(e)),
            }
        }
        let mut reply = Vec::with_capacity(MAGIC.len() + 4 + payload.len());
        reply.extend_from_slice(MAGIC);
        reply.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        reply.extend_from_slice(payload);
        for stream in peers.iter_mut().flatten() {
            stream.write_all(&reply).map_err(io)?;
        }
        Ok(())
    }
}

/// A non-root rank's side: connects to `addr:port` (retrying until the root listens), says hello,
/// and returns the root's bootstrap bytes, all within `timeout`.
pub fn rendezvous(addr: &str, port: u16, rank: usize, world: usize, timeout: Duration) -> Result<Vec<u8>, DistError> {
    let target = format!("{addr}:{port}");
    let io = |source| DistError::Io { addr: target.clone(), source };
    let protocol = |what: String| DistError::Protocol { addr: target.clone(), what };
    if rank == 0 || rank >= world {
        return Err(DistError::RankOutOfRange { rank, world });
    }
    let start = Instant::now();
    let mut stream = loop {
        let attempt = target.to_socket_addrs().and_then(|mut a| {
            let a = a.next().ok_or_else(|| std::io::Error::new(ErrorKind::NotFound, "no address"))?;
            let s = TcpStream::connect_timeout(&a, remaining(start, timeout).min(Duration::from_secs(1)))?;
            // Connecting to a local port nobody listens on can connect the socket to itself (its
            // own ephemeral port was the target), which would also keep the root from binding it:
            // dropped, and tried again like a refused connection.
            if connected_to_itself(&s) {
                return Err(std::io::Error::new(
                    ErrorKind::ConnectionRefused,
                    "the connection reached this rank itself (TCP self-connect)",
                ));
            }
            Ok(s)
        });
        match attempt {
            Ok(s) => break s,
            Err(e) if start.elapsed() + RETRY > timeout => {
                return Err(DistError::RootUnreachable { addr: target, waited: start.elapsed(), last_error: e.to_string() });
            }
            Err(_) => std::thread::sleep(RETRY),
        }
    };
    let mut hello = Vec::with_capacity(20);
    hello.extend_from_slice(MAGIC);
    for v in [VERSION, rank as u32, world as u32] {
        hello.extend_from_slice(&v.to_le_bytes());
    }
    stream.write_all(&hello).map_err(io)?;
    stream.set_read_timeout(Some(remaining(start, timeout))).map_err(io)?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            protocol(format!("no bootstrap bytes within {timeout:?}: some rank did not arrive (the root names it)"))
        }
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset => {
            protocol("the root closed the connection: the rendezvous failed there (its error names why)".into())
        }
        _ => io(e),
    })?;
    if &head[..8] != MAGIC {
        return Err(protocol("the root's reply is not a flashmoe rendezvous".into()));
    }
    let len = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize;
    if len > BOOTSTRAP_BYTES {
        return Err(protocol(format!("{len} bootstrap bytes announced, at most {BOOTSTRAP_BYTES}")));
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).map_err(io)?;
    Ok(payload)
}

/// A TCP self-connect: the socket's own address is its peer's.
fn connected_to_itself(s: &TcpStream) -> bool {
    matches!((s.local_addr(), s.peer_addr()), (Ok(a), Ok(b)) if a == b)
}

fn remaining(start: Instant, timeout: Duration) -> Duration {
    timeout.saturating_sub(start.elapsed()).max(Duration::from_millis(1))
}

/// A rank's hello: magic, version, rank, world. Err: what is wrong with it.
fn read_hello(stream: &mut TcpStream, world: usize) -> Result<usize, String> {
    let mut b = [0u8; 20];
    stream.read_exact(&mut b).map_err(|e| format!("a connection sent no valid hello ({e})"))?;
    let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    if &b[..8] != MAGIC {
        return Err("a connection that is not a flashmoe rank (wrong magic)".into());
    }
    if word(8) != VERSION as usize {
        return Err(format!("a rank speaks rendezvous version {}, this root {VERSION}", word(8)));
    }
    let (rank, theirs) = (word(12), word(16));
    if theirs != world {
        return Err(format!("rank {rank} has world size {theirs}, the root {world}"));
    }
    if rank == 0 || rank >= world {
        return Err(format!("a rank says it is rank {rank} of {world}"));
    }
    Ok(rank)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    const T: Duration = Duration::from_secs(10);

    fn root(world: usize, payload: Vec<u8>, timeout: Duration) -> (u16, thread::JoinHandle<Result<(), DistError>>) {
        let r = Rendezvous::bind(0, T).unwrap();
        let port = r.port().unwrap();
        (port, thread::spawn(move || r.serve(world, &payload, timeout)))
    }

    #[test]
    fn ranks_join_in_any_order_and_get_the_roots_bytes() {
        let payload: Vec<u8> = (0..128).map(|i| i as u8).collect();
        let (port, server) = root(4, payload.clone(), T);
        let joins: Vec<_> = [3usize, 1, 2]
            .into_iter()
            .enumerate()
            .map(|(i, rank)| {
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(30 * i as u64));
                    rendezvous("127.0.0.1", port, rank, 4, T)
                })
            })
            .collect();
        for j in joins {
            assert_eq!(j.join().unwrap().unwrap(), payload);
        }
        server.join().unwrap().unwrap();
    }

    #[test]
    fn ranks_may_start_before_the_root() {
        let r = Rendezvous::bind(0, T).unwrap();
        let port = r.port().unwrap();
        drop(r); // nobody listens yet
        let early = thread::spawn(move || rendezvous("127.0.0.1", port, 1, 2, T));
        thread::sleep(Duration::from_millis(200));
        let r = Rendezvous::bind(port, T).unwrap();
        r.serve(2, b"id", T).unwrap();
        assert_eq!(early.join().unwrap().unwrap(), b"id");
    }

    #[test]
    fn a_rank_that_never_arrives_is_named_and_the_others_fail_fast() {
        let (port, server) = root(3, vec![7; 16], Duration::from_millis(400));
        let started = Instant::now();
        let present = thread::spawn(move || rendezvous("127.0.0.1", port, 1, 3, T));
        let e = server.join().unwrap().unwrap_err();
        assert!(matches!(&e, DistError::RanksMissing { missing, world: 3, .. } if missing == &vec![2]), "{e}");
        // Rank 1 sees the root close long before its own 10 s deadline.
        let e = present.join().unwrap().unwrap_err();
        assert!(matches!(e, DistError::Protocol { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_root_waits_for_a_port_in_use_until_its_timeout() {
        let holder = TcpListener::bind("0.0.0.0:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        let started = Instant::now();
        let e = Rendezvous::bind(port, Duration::from_millis(200)).err().expect("the port is held");
        assert!(matches!(&e, DistError::Io { source, .. } if source.kind() == ErrorKind::AddrInUse), "{e}");
        assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
        let released = thread::spawn(move || {
            thread::sleep(Duration::from_millis(150));
            drop(holder);
        });
        let r = Rendezvous::bind(port, T).unwrap();
        assert_eq!(r.port().unwrap(), port);
        released.join().unwrap();
    }

    #[test]
    fn no_root_is_a_timeout_naming_the_address() {
        let r = Rendezvous::bind(0, T).unwrap();
        let port = r.port().unwrap();
        drop(r);
        let e = rendezvous("127.0.0.1", port, 1, 2, Duration::from_millis(300)).unwrap_err();
        assert!(matches!(&e, DistError::RootUnreachable { addr, .. } if addr.ends_with(&format!(":{port}"))), "{e}");
    }

    #[test]
    fn mismatched_worlds_and_duplicate_ranks_are_protocol_errors() {
        let (port, server) = root(3, vec![1], T);
        let _wrong = thread::spawn(move || rendezvous("127.0.0.1", port, 1, 4, Duration::from_secs(2)));
        let e = server.join().unwrap().unwrap_err();
        assert!(e.to_string().contains("world size 4, the root 3"), "{e}");
        let (port, server) = root(3, vec![1], T);
        let a = thread::spawn(move || rendezvous("127.0.0.1", port, 1, 3, Duration::from_secs(2)));
        thread::sleep(Duration::from_millis(100));
        let b = thread::spawn(move || rendezvous("127.0.0.1", port, 1, 3, Duration::from_secs(2)));
        let e = server.join().unwrap().unwrap_err();
        assert!(e.to_string().contains("rank 1 arrived twice"), "{e}");
        let _ = (a.join(), b.join());
        assert!(matches!(rendezvous("127.0.0.1", port, 0, 3, T), Err(DistError::RankOutOfRange { .. })));
    }
}
