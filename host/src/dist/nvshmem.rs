//! NVSHMEM's host library, loaded at run time like the CUDA driver (`dlopen`), so neither the
//! build nor CI needs it. Found through `NVSHMEM_HOST_LIB` (the library file), `NVSHMEM_HOME`
//! (`$NVSHMEM_HOME/lib/libnvshmem_host.so.3`, e.g. `<site-packages>/nvidia/nvshmem` of the PyPI
//! wheel `nvidia-nvshmem-cu12`/`-cu13`), then the dynamic loader's search path. Only the C entry
//! points a driver-API host can use are taken (shared/docs/nvshmem.md: the headers' `nvshmem_init`
//! is static inline over the static library and needs the CUDA runtime).

use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cudarc::driver::{result, sys};
use libloading::Library;

use super::DistError;
use super::worker::{Refused, Worker};

/// A raw handle moved to NVSHMEM's thread (a CUDA context or module: plain handles).
struct Handle<T>(T);
// SAFETY: CUDA context and module handles may be used from any thread.
unsafe impl<T> Send for Handle<T> {}
impl<T> Handle<T> {
    fn get(self) -> T {
        self.0
    }
}

/// The host library's file name (NVSHMEM 3.x).
pub const HOST_LIBRARY: &str = "libnvshmem_host.so.3";
/// Bytes of `nvshmemx_uniqueid_t`.
pub const UNIQUE_ID_BYTES: usize = 128;
/// Bytes of `nvshmemx_init_attr_t` (3.4.5).
const INIT_ATTR_BYTES: usize = 144;
/// `NVSHMEMX_INIT_WITH_UNIQUEID`.
const INIT_WITH_UNIQUEID: u32 = 8;
/// `nvshmemx_init_status()` at or above this: initialised (the library swallows some init
/// errors, so a zero return alone proves nothing).
const STATUS_IS_INITIALIZED: i32 = 2;

/// A struct version word as NVSHMEM writes it: (1 << 16) + the struct's size.
const fn version_word(bytes: usize) -> i32 {
    (1 << 16) + bytes as i32
}

/// An empty unique id (its version word set), for `nvshmemx_get_uniqueid` to fill.
pub fn empty_unique_id() -> [u8; UNIQUE_ID_BYTES] {
    let mut id = [0u8; UNIQUE_ID_BYTES];
    id[..4].copy_from_slice(&version_word(UNIQUE_ID_BYTES).to_le_bytes());
    id
}

/// A zeroed init attribute with its version words (offset 0: the struct, 16: its unique-id
/// arguments, 24: their inner struct), as `NVSHMEMX_INIT_ATTR_INITIALIZER` sets them.
fn init_attr() -> [u8; INIT_ATTR_BYTES] {
    let mut a = [0u8; INIT_ATTR_BYTES];
    for (offset, v) in [(0, version_word(INIT_ATTR_BYTES)), (16, version_word(UNIQUE_ID_BYTES)), (24, version_word(24))] {
        a[offset..offset + 4].copy_from_slice(&v.to_le_bytes());
    }
    a
}

/// The loaded host library.
pub struct NvshmemHost {
    /// Unloaded on drop only where NVSHMEM was not abandoned: unfinalized, its proxy and
    /// bootstrap threads still run the library's code (unloading it crashed the process while
    /// it reported its error).
    lib: ManuallyDrop<Library>,
    path: PathBuf,
    /// Set once a forward of this process failed ([`Self::abandon_collectives`]).
    abandoned: AtomicBool,
    /// From [`Self::init`] on, every NVSHMEM call runs on this thread, awaited at most this long.
    worker: OnceLock<(Worker, Duration)>,
}

impl std::fmt::Debug for NvshmemHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NvshmemHost").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Drop for NvshmemHost {
    fn drop(&mut self) {
        // The thread first (idle unless a call timed out; then it is left behind).
        drop(self.worker.take());
        if !self.collectives_abandoned() {
            // SAFETY: dropped once, here; nothing uses the library after its last handle.
            unsafe { ManuallyDrop::drop(&mut self.lib) };
        }
    }
}

impl NvshmemHost {
    /// Loads the library from the first place that has it (module docs).
    pub fn load() -> Result<NvshmemHost, DistError> {
        let mut candidates = Vec::new();
        if let Some(p) = std::env::var_os("NVSHMEM_HOST_LIB") {
            candidates.push(PathBuf::from(p));
        }
        if let Some(home) = std::env::var_os("NVSHMEM_HOME") {
            candidates.push(Path::new(&home).join("lib").join(HOST_LIBRARY));
        }
        candidates.push(PathBuf::from(HOST_LIBRARY));
        Self::load_from(&candidates)
    }

    /// Loads the first of `candidates` that opens; a bare file name goes through the loader's
    /// search path. The error names every place tried and what to install.
    pub fn load_from(candidates: &[PathBuf]) -> Result<NvshmemHost, DistError> {
        let mut tried = Vec::new();
        for path in candidates {
            // SAFETY: loading runs the library's initialisers; NVSHMEM's host library has none
            // that need more than libc.
            match unsafe { Library::new(path) } {
                Ok(lib) => {
                    return Ok(NvshmemHost {
                        lib: ManuallyDrop::new(lib),
                        path: path.clone(),
                        abandoned: AtomicBool::new(false),
                        worker: OnceLock::new(),
                    });
                }
                Err(e) => tried.push(format!("{}: {e}", path.display())),
            }
        }
        Err(DistError::NvshmemMissing { tried })
    }

    /// Where it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// From now on the collective calls ([`Self::malloc`], [`Self::free`], [`Self::barrier_all`],
    /// [`Self::finalize`]) return [`DistError::CollectivesAbandoned`] instead of running. Called
    /// when a forward failed: a peer may have died or hung (a rank's forward fails when any
    /// rank's does, so every rank calls this), and NVSHMEM's collectives have no timeout, so
    /// teardown leaks the heap rather than hang the process.
    pub fn abandon_collectives(&self) {
        self.abandoned.store(true, Ordering::Release);
    }

    /// Whether [`Self::abandon_collectives`] was called.
    pub fn collectives_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Acquire)
    }

    /// Runs `f`, NVSHMEM's `call`, on NVSHMEM's thread within the timeout [`Self::init`] set
    /// (directly before `init`). A call that runs out of time abandons NVSHMEM in this process:
    /// it may never return, so every later call is refused.
    fn run<T: Send + 'static>(&self, call: &'static str, f: impl FnOnce() -> T + Send + 'static) -> Result<T, DistError> {
        let Some((worker, timeout)) = self.worker.get() else { return Ok(f()) };
        match worker.call(*timeout, f) {
            Ok(v) => Ok(v),
            Err(Refused::TimedOut) => {
                self.abandon_collectives();
                Err(DistError::CollectiveTimeout { call, waited: *timeout })
            }
            Err(Refused::Stuck) => Err(DistError::CollectivesAbandoned { call }),
        }
    }

    /// `call`'s symbol, unless the collectives were abandoned.
    fn collective<T: Copy>(&self, call: &'static str) -> Result<T, DistError> {
        if self.collectives_abandoned() {
            return Err(DistError::CollectivesAbandoned { call });
        }
        self.symbol(call)
    }

    fn symbol<T: Copy>(&self, name: &'static str) -> Result<T, DistError> {
        // SAFETY: the caller names T as the C signature of `name` (NVSHMEM 3.4.5 headers).
        unsafe { self.lib.get::<T>(name.as_bytes()).map(|s| *s) }.map_err(|e| DistError::NvshmemSymbol {
            name,
            library: self.path.display().to_string(),
            error: e.to_string(),
        })
    }

    /// A new unique id (rank 0), to hand every rank through the rendezvous. Needs no GPU.
    pub fn unique_id(&self) -> Result<[u8; UNIQUE_ID_BYTES], DistError> {
        let get: unsafe extern "C" fn(*mut u8) -> i32 = self.symbol("nvshmemx_get_uniqueid")?;
        let mut id = empty_unique_id();
        // SAFETY: `id` is a 128-byte nvshmemx_uniqueid_t with its version set.
        let rc = unsafe { get(id.as_mut_ptr()) };
        if rc != 0 {
            return Err(DistError::NvshmemCall { call: "nvshmemx_get_uniqueid", code: rc });
        }
        Ok(id)
    }

    /// Initialises this process as PE `rank` of `ranks` with the root's unique id, on the CUDA
    /// context current on this thread (NVSHMEM works on the device's primary context). From here
    /// on every NVSHMEM call runs on a thread of its own with that context bound, and returns
    /// [`DistError::CollectiveTimeout`] instead of blocking past `timeout` (NVSHMEM's set-up and
    /// collectives wait for every rank, and one may have died).
    pub fn init(&self, rank: usize, ranks: usize, id: &[u8; UNIQUE_ID_BYTES], timeout: Duration) -> Result<(), DistError> {
        let set_args: unsafe extern "C" fn(i32, i32, *const u8, *mut u8) -> i32 = self.symbol("nvshmemx_set_attr_uniqueid_args")?;
        let init: unsafe extern "C" fn(u32, *mut u8) -> i32 = self.symbol("nvshmemx_hostlib_init_attr")?;
        let status: unsafe extern "C" fn() -> i32 = self.symbol("nvshmemx_init_status")?;
        let (rank, ranks) = (i32::try_from(rank), i32::try_from(ranks));
        let (Ok(rank), Ok(ranks)) = (rank, ranks) else { return Err(DistError::NvshmemCall { call: "rank bounds", code: -1 }) };
        let ctx = Handle(result::ctx::get_current().map_err(|e| DistError::NvshmemCall { call: "cuCtxGetCurrent", code: e.0 as i32 })?);
        let worker = Worker::spawn("nvshmem", move || {
            if let Some(ctx) = ctx.get() {
                // SAFETY: the caller's current context, alive while this process uses NVSHMEM.
                let _ = unsafe { result::ctx::set_current(ctx) };
            }
        })
        .map_err(|e| DistError::NvshmemCall { call: "starting NVSHMEM's thread", code: e.raw_os_error().unwrap_or(-1) })?;
        if self.worker.set((worker, timeout)).is_err() {
            return Err(DistError::NvshmemCall { call: "nvshmemx_hostlib_init_attr (a second time)", code: -1 });
        }
        let id = *id;
        self.run("nvshmemx_hostlib_init_attr", move || {
            let mut attr = init_attr();
            // SAFETY: `id` and `attr` are the 128- and 144-byte structs of 3.4.5 with their versions.
            let rc = unsafe { set_args(rank, ranks, id.as_ptr(), attr.as_mut_ptr()) };
            if rc != 0 {
                return Err(DistError::NvshmemCall { call: "nvshmemx_set_attr_uniqueid_args", code: rc });
            }
            // SAFETY: as above; the library keeps no pointer into `attr` after returning.
            let rc = unsafe { init(INIT_WITH_UNIQUEID, attr.as_mut_ptr()) };
            // SAFETY: no arguments.
            let st = unsafe { status() };
            if rc != 0 || st < STATUS_IS_INITIALIZED {
                return Err(DistError::NvshmemCall { call: "nvshmemx_hostlib_init_attr", code: if rc != 0 { rc } else { st } });
            }
            Ok(())
        })?
    }

    /// `nvshmemx_cumodule_init`: registers `module` (one that links NVSHMEM's device code, i.e.
    /// [`crate::kernels::nvshmem_ptx`]) and copies the device state into it. After [`Self::init`],
    /// before any launch from it, and again after every reload.
    pub fn cumodule_init(&self, module: &crate::driver::Module) -> Result<(), DistError> {
        let f: unsafe extern "C" fn(sys::CUmodule) -> i32 = self.symbol("nvshmemx_cumodule_init")?;
        let m = Handle(module.raw());
        // SAFETY: the module is loaded and lives for the call (awaited, or NVSHMEM abandoned).
        match self.run("nvshmemx_cumodule_init", move || unsafe { f(m.get()) })? {
            0 => Ok(()),
            rc => Err(DistError::NvshmemCall { call: "nvshmemx_cumodule_init", code: rc }),
        }
    }

    /// `nvshmemx_cumodule_finalize`, before the module is unloaded.
    pub fn cumodule_finalize(&self, module: &crate::driver::Module) -> Result<(), DistError> {
        let f: unsafe extern "C" fn(sys::CUmodule) -> i32 = self.symbol("nvshmemx_cumodule_finalize")?;
        let m = Handle(module.raw());
        // SAFETY: as in cumodule_init.
        match self.run("nvshmemx_cumodule_finalize", move || unsafe { f(m.get()) })? {
            0 => Ok(()),
            rc => Err(DistError::NvshmemCall { call: "nvshmemx_cumodule_finalize", code: rc }),
        }
    }

    /// `nvshmem_malloc`: `bytes` of the symmetric heap (collective: every PE, same size), as a
    /// device address.
    pub fn malloc(&self, bytes: usize) -> Result<u64, DistError> {
        let f: unsafe extern "C" fn(usize) -> *mut c_void = self.collective("nvshmem_malloc")?;
        // SAFETY: initialised (the caller's order of calls); a null return is an error.
        let p = self.run("nvshmem_malloc", move || unsafe { f(bytes) } as u64)?;
        if p == 0 {
            return Err(DistError::NvshmemCall { call: "nvshmem_malloc", code: -1 });
        }
        Ok(p)
    }

    /// `nvshmem_free` of a [`Self::malloc`] address (collective).
    pub fn free(&self, ptr: u64) -> Result<(), DistError> {
        let f: unsafe extern "C" fn(*mut c_void) = self.collective("nvshmem_free")?;
        // SAFETY: ptr came from nvshmem_malloc.
        self.run("nvshmem_free", move || unsafe { f(ptr as *mut c_void) })
    }

    /// `nvshmem_ptr` (host side): the symmetric address `ptr` on PE `pe` as a peer address, or
    /// None when `pe` is not reachable by P2P.
    pub fn ptr(&self, ptr: u64, pe: usize) -> Result<Option<u64>, DistError> {
        let f: unsafe extern "C" fn(*const c_void, i32) -> *mut c_void = self.symbol("nvshmem_ptr")?;
        let pe = i32::try_from(pe).map_err(|_| DistError::NvshmemCall { call: "nvshmem_ptr (pe bounds)", code: -1 })?;
        // SAFETY: ptr is symmetric; the call only translates addresses.
        let p = self.run("nvshmem_ptr", move || unsafe { f(ptr as *const c_void, pe) } as u64)?;
        Ok((p != 0).then_some(p))
    }

    /// `nvshmem_barrier_all` (host side): every PE has arrived and its earlier stores through
    /// the heap are visible. Collective, for set-up: after a heap is zeroed, before any peer may
    /// write into it.
    pub fn barrier_all(&self) -> Result<(), DistError> {
        let f: unsafe extern "C" fn() = self.collective("nvshmem_barrier_all")?;
        // SAFETY: no arguments; initialised (the caller's order of calls).
        self.run("nvshmem_barrier_all", move || unsafe { f() })
    }

    /// `nvshmem_my_pe` and `nvshmem_n_pes` (host side).
    pub fn pe(&self) -> Result<(usize, usize), DistError> {
        let me: unsafe extern "C" fn() -> i32 = self.symbol("nvshmem_my_pe")?;
        let n: unsafe extern "C" fn() -> i32 = self.symbol("nvshmem_n_pes")?;
        // SAFETY: no arguments.
        let (me, n) = self.run("nvshmem_my_pe", move || unsafe { (me(), n()) })?;
        Ok((me.max(0) as usize, n.max(0) as usize))
    }

    /// Copies `src` to device address `ptr` (e.g. symmetric memory) on the current context.
    pub fn write_bytes(&self, ptr: u64, src: &[u8]) -> Result<(), DistError> {
        // SAFETY: the caller's ptr holds src.len() bytes; the copy is synchronous.
        unsafe { result::memcpy_htod_sync(ptr, src) }.map_err(|e| DistError::NvshmemCall { call: "cuMemcpyHtoD", code: e.0 as i32 })
    }

    /// Copies device address `ptr` into `dst` on the current context.
    pub fn read_bytes(&self, ptr: u64, dst: &mut [u8]) -> Result<(), DistError> {
        // SAFETY: the caller's ptr holds dst.len() bytes; the copy is synchronous.
        unsafe { result::memcpy_dtoh_sync(dst, ptr) }.map_err(|e| DistError::NvshmemCall { call: "cuMemcpyDtoH", code: e.0 as i32 })
    }

    /// `nvshmemx_hostlib_finalize`: after every buffer is freed and every module finalized.
    pub fn finalize(&self) -> Result<(), DistError> {
        let f: unsafe extern "C" fn() = self.collective("nvshmemx_hostlib_finalize")?;
        // SAFETY: no arguments.
        self.run("nvshmemx_hostlib_finalize", move || unsafe { f() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_versions_match_the_3_4_5_headers() {
        let id = empty_unique_id();
        assert_eq!(i32::from_le_bytes(id[..4].try_into().unwrap()), 65536 + 128);
        let a = init_attr();
        let word = |o: usize| i32::from_le_bytes(a[o..o + 4].try_into().unwrap());
        assert_eq!((word(0), word(16), word(24)), (65536 + 144, 65536 + 128, 65536 + 24));
        assert!(a[4..16].iter().chain(&a[20..24]).chain(&a[28..]).all(|&b| b == 0));
    }

    #[test]
    fn a_missing_library_names_every_place_tried_and_what_to_install() {
        let e = NvshmemHost::load_from(&[PathBuf::from("/nonexistent/libnvshmem_host.so.3"), PathBuf::from("libnvshmem_host.so.99")])
            .err()
            .unwrap();
        let text = e.to_string();
        assert!(text.contains("/nonexistent/libnvshmem_host.so.3") && text.contains("libnvshmem_host.so.99"), "{text}");
        assert!(text.contains("nvidia-nvshmem-cu13") && text.contains("NVSHMEM_HOME"), "{text}");
    }

    /// After a timeout the collectives return a typed error without touching the library (here
    /// libc stands in for it: before, the same calls reach the symbol lookup and fail there).
    #[test]
    fn abandoned_collectives_are_typed_errors_that_never_call_nvshmem() {
        let host = NvshmemHost::load_from(&[PathBuf::from("libc.so.6")]).unwrap();
        assert!(matches!(host.malloc(256), Err(DistError::NvshmemSymbol { name: "nvshmem_malloc", .. })));
        assert!(!host.collectives_abandoned());
        host.abandon_collectives();
        assert!(host.collectives_abandoned());
        let calls = [
            ("nvshmem_malloc", host.malloc(256).map(drop)),
            ("nvshmem_free", host.free(1)),
            ("nvshmem_barrier_all", host.barrier_all()),
            ("nvshmemx_hostlib_finalize", host.finalize()),
        ];
        for (call, r) in calls {
            match r {
                Err(e @ DistError::CollectivesAbandoned { call: c }) if c == call => {
                    assert!(e.to_string().contains("restart every rank"), "{e}")
                }
                other => panic!("{call}: {other:?}"),
            }
        }
        // Local calls still run.
        assert!(matches!(host.pe(), Err(DistError::NvshmemSymbol { name: "nvshmem_my_pe", .. })));
    }

    /// With the wheel's library at hand (NVSHMEM_HOST_LIB): a unique id needs no GPU.
    #[test]
    fn unique_id_from_the_real_library_when_present() {
        let Some(p) = std::env::var_os("NVSHMEM_HOST_LIB") else {
            eprintln!("skipped: NVSHMEM_HOST_LIB is not set");
            return;
        };
        let host = NvshmemHost::load_from(&[PathBuf::from(p)]).unwrap();
        let (a, b) = (host.unique_id().unwrap(), host.unique_id().unwrap());
        assert_eq!(&a[..4], &empty_unique_id()[..4]);
        assert_ne!(a, b, "two unique ids are equal");
    }
}
