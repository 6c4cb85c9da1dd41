//! A thread that makes every call into a library whose calls may never return (NVSHMEM's set-up
//! and collectives wait for every rank), so each call can be awaited with a timeout. After one
//! runs out of time the thread may stay blocked for good: the worker is then stuck and refuses
//! every later call at once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// Why a call on the [`Worker`] did not return a value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// This call ran out of time (the worker is stuck from now on).
    TimedOut,
    /// An earlier call ran out of time, or the thread is gone.
    Stuck,
}

pub(crate) struct Worker {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    stuck: AtomicBool,
}

impl Worker {
    /// Starts the thread; `setup` runs on it first (e.g. binding the caller's CUDA context).
    pub fn spawn(name: &str, setup: impl FnOnce() + Send + 'static) -> std::io::Result<Worker> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || {
            setup();
            while let Ok(job) = rx.recv() {
                job();
            }
        })?;
        Ok(Worker { jobs: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)), stuck: AtomicBool::new(false) })
    }

    /// Runs `f` on the thread and waits at most `timeout` for its result.
    pub fn call<T: Send + 'static>(&self, timeout: Duration, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Refused> {
        if self.is_stuck() {
            return Err(Refused::Stuck);
        }
        let (done, result) = mpsc::sync_channel(1);
        let sent = match self.jobs.lock() {
            Ok(jobs) => jobs.as_ref().is_some_and(|tx| {
                tx.send(Box::new(move || {
                    let _ = done.send(f());
                }))
                .is_ok()
            }),
            Err(_) => false,
        };
        if !sent {
            return Err(Refused::Stuck);
        }
        match result.recv_timeout(timeout) {
            Ok(v) => Ok(v),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.stuck.store(true, Ordering::Release);
                Err(Refused::TimedOut)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Refused::Stuck),
        }
    }

    /// Whether a call ran out of time.
    pub fn is_stuck(&self) -> bool {
        self.stuck.load(Ordering::Acquire)
    }
}

impl Drop for Worker {
    /// Ends the thread when it is idle; a stuck one is left behind (it cannot be stopped).
    fn drop(&mut self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if !self.is_stuck()
            && let Ok(mut thread) = self.thread.lock()
            && let Some(t) = thread.take()
        {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn calls_run_in_order_on_the_thread_after_its_setup() {
        thread_local!(static BOUND: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
        let w = Worker::spawn("test-worker", || BOUND.with(|b| b.set(7))).unwrap();
        let caller = std::thread::current().id();
        for i in 0..5u32 {
            let (v, id) = w.call(Duration::from_secs(5), move || (BOUND.with(|b| b.get()) + i, std::thread::current().id())).unwrap();
            assert_eq!(v, 7 + i);
            assert_ne!(id, caller);
        }
        assert!(!w.is_stuck());
    }

    /// A call that never returns in time: the caller gets `TimedOut` after the timeout, not
    /// after the call; every later call is refused at once, and dropping the worker does not
    /// wait for the blocked thread.
    #[test]
    fn a_call_past_its_timeout_is_refused_and_the_worker_stays_stuck() {
        let w = Worker::spawn("test-worker", || {}).unwrap();
        let start = Instant::now();
        assert_eq!(w.call(Duration::from_millis(50), || std::thread::sleep(Duration::from_secs(30))), Err(Refused::TimedOut));
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
        assert!(w.is_stuck());
        let again = Instant::now();
        assert_eq!(w.call(Duration::from_secs(10), || 1), Err(Refused::Stuck));
        assert!(again.elapsed() < Duration::from_millis(100));
        let dropped = Instant::now();
        drop(w);
        assert!(dropped.elapsed() < Duration::from_secs(1));
    }
}
