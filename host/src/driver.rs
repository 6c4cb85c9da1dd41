//! The one module that calls the CUDA driver (through cudarc's `sys`/`result` layers): contexts,
//! allocations, streams, events, modules and launches, each owning its handle and releasing it on
//! drop. Everything above this works with these safe types.

use std::ffi::{CString, c_void};
use std::sync::Arc;

use bytemuck::Pod;

use cudarc::driver::result::{self, DriverError};
use cudarc::driver::sys;

use crate::error::{Error, Result};

/// Maps a driver result, naming the call that failed.
pub(crate) fn check<T>(call: &'static str, r: std::result::Result<T, DriverError>) -> Result<T> {
    r.map_err(|source| Error::Cuda { call, source })
}

fn check_raw(call: &'static str, r: sys::CUresult) -> Result<()> {
    check(call, r.result())
}

/// A PCI address as NVML and nvidia-smi write it: domain, bus and device, function 0.
fn pci_bus_id(domain: i32, bus: i32, device: i32) -> String {
    format!("{domain:08X}:{bus:02X}:{device:02X}.0")
}

/// Loads libcuda and initialises the driver; returns the number of devices.
pub fn init() -> Result<usize> {
    // SAFETY: only probes whether the shared library can be opened.
    if !unsafe { sys::is_culib_present() } {
        return Err(Error::NoDriver);
    }
    match result::init() {
        Ok(()) => {}
        Err(DriverError(sys::CUresult::CUDA_ERROR_NO_DEVICE)) => return Err(Error::NoDevice),
        Err(source) => return Err(Error::Cuda { call: "cuInit", source }),
    }
    let n = check("cuDeviceGetCount", result::device::get_count())? as usize;
    if n == 0 {
        return Err(Error::NoDevice);
    }
    Ok(n)
}

/// A device's primary context, retained for the lifetime of this value.
#[derive(Debug)]
pub struct Context {
    ordinal: usize,
    dev: sys::CUdevice,
    ctx: sys::CUcontext,
}

// SAFETY: a CUcontext may be used from any thread once made current there; we always bind first.
unsafe impl Send for Context {}
// SAFETY: see above.
unsafe impl Sync for Context {}

impl Context {
    /// Retains the primary context of device `ordinal`.
    pub fn new(ordinal: usize) -> Result<Arc<Self>> {
        let dev = check("cuDeviceGet", result::device::get(ordinal as i32))?;
        // SAFETY: dev is a valid device handle.
        let ctx = check("cuDevicePrimaryCtxRetain", unsafe { result::primary_ctx::retain(dev) })?;
        let c = Arc::new(Context { ordinal, dev, ctx });
        c.bind()?;
        Ok(c)
    }

    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    /// Makes this context current on the calling thread.
    pub fn bind(&self) -> Result<()> {
        // SAFETY: ctx is retained until drop.
        check("cuCtxSetCurrent", unsafe { result::ctx::set_current(self.ctx) })
    }

    pub fn name(&self) -> Result<String> {
        check("cuDeviceGetName", result::device::get_name(self.dev))
    }

    pub fn attribute(&self, attr: sys::CUdevice_attribute) -> Result<i32> {
        // SAFETY: valid device and attribute enum.
        check("cuDeviceGetAttribute", unsafe { result::device::get_attribute(self.dev, attr) })
    }

    /// The device's PCI address as NVML and nvidia-smi name it (`00000000:19:00.0`): how tools
    /// outside CUDA find this device whatever `CUDA_VISIBLE_DEVICES` renumbered.
    pub fn pci_bus_id(&self) -> Result<String> {
        Ok(pci_bus_id(
            self.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID)?,
            self.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_PCI_BUS_ID)?,
            self.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID)?,
        ))
    }

    pub fn compute_capability(&self) -> Result<(i32, i32)> {
        Ok((
            self.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
            self.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
        ))
    }

    pub fn total_memory(&self) -> Result<usize> {
        // SAFETY: valid device.
        check("cuDeviceTotalMem", unsafe { result::device::total_mem(self.dev) })
    }

    /// (free, total) bytes of device memory.
    pub fn memory_info(&self) -> Result<(usize, usize)> {
        self.bind()?;
        check("cuMemGetInfo", result::mem_get_info())
    }

    /// Whether this device can map memory of `peer`.
    pub fn can_access_peer(&self, peer: &Context) -> Result<bool> {
        let mut v = 0i32;
        // SAFETY: out-pointer to a local.
        check_raw("cuDeviceCanAccessPeer", unsafe { sys::cuDeviceCanAccessPeer(&mut v, self.dev, peer.dev) })?;
        Ok(v != 0)
    }

    /// Lets kernels of this context dereference `peer`'s memory (idempotent).
    pub fn enable_peer_access(&self, peer: &Context) -> Result<()> {
        self.bind()?;
        // SAFETY: both contexts are retained.
        let r = unsafe { sys::cuCtxEnablePeerAccess(peer.ctx, 0) };
        match r {
            sys::CUresult::CUDA_SUCCESS | sys::CUresult::CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED => Ok(()),
            e => check_raw("cuCtxEnablePeerAccess", e),
        }
    }

    pub fn synchronize(&self) -> Result<()> {
        self.bind()?;
        check("cuCtxSynchronize", result::ctx::synchronize())
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: balanced with the retain in `new`. Errors at teardown have nowhere to go.
        unsafe {
            let _ = result::primary_ctx::release(self.dev);
        }
    }
}

/// Device memory from `cuMemAlloc` (not the stream-ordered pool: peers must be able to map it).
#[derive(Debug)]
pub struct DeviceBuffer {
    ptr: sys::CUdeviceptr,
    bytes: usize,
    ctx: Arc<Context>,
    /// Freed on drop (cuMemAlloc'd here); false for memory another allocator owns.
    owned: bool,
}

// SAFETY: a device pointer is plain data; the context is bound before every use.
unsafe impl Send for DeviceBuffer {}
// SAFETY: see above.
unsafe impl Sync for DeviceBuffer {}

impl DeviceBuffer {
    /// Allocates `bytes` (at least 1) on `ctx`'s device.
    pub fn alloc(ctx: &Arc<Context>, bytes: usize) -> Result<Self> {
        ctx.bind()?;
        // SAFETY: the context is current.
        let ptr = check("cuMemAlloc", unsafe { result::malloc_sync(bytes.max(1)) })?;
        Ok(DeviceBuffer { ptr, bytes, ctx: ctx.clone(), owned: true })
    }

    /// A view of `bytes` at `ptr` that another allocator owns (NVSHMEM's symmetric heap): never
    /// freed here.
    ///
    /// # Safety
    /// `ptr..ptr + bytes` is device memory of `ctx`'s device that outlives the view.
    pub unsafe fn borrowed(ctx: &Arc<Context>, ptr: u64, bytes: usize) -> Self {
        DeviceBuffer { ptr, bytes, ctx: ctx.clone(), owned: false }
    }

    pub fn ptr(&self) -> u64 {
        self.ptr
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// `[offset, offset + len)` inside the buffer, without wrapping.
    fn check_range(&self, what: &'static str, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.bytes => Ok(()),
            _ => Err(Error::OutOfBounds { what, offset, len, size: self.bytes }),
        }
    }

    /// Copies `src` into the buffer at byte `offset`; returns once the data is in device memory.
    /// Plain-old-data only: every byte pattern the device may write back must be a valid `T`.
    ///
    /// `cuMemcpyHtoD` alone would not do: from pageable memory it may return before its DMA
    /// lands, and a kernel on a non-blocking stream is not ordered after it (seen: a launch read
    /// part of the previous input). So: the legacy stream, then wait for it.
    pub fn write<T: Pod>(&self, offset: usize, src: &[T]) -> Result<()> {
        self.check_range("device buffer write", offset, std::mem::size_of_val(src))?;
        self.ctx.bind()?;
        // SAFETY: range checked above; src is a plain slice that outlives the copy (waited for).
        unsafe {
            check("cuMemcpyHtoDAsync", result::memcpy_htod_async(self.ptr + offset as u64, src, std::ptr::null_mut()))?;
            check("cuStreamSynchronize", result::stream::synchronize(std::ptr::null_mut()))
        }
    }

    /// Copies from byte `offset` of the buffer into `dst` (synchronous); `T: Pod`, so whatever
    /// the device wrote is a valid value.
    pub fn read<T: Pod>(&self, offset: usize, dst: &mut [T]) -> Result<()> {
        self.check_range("device buffer read", offset, std::mem::size_of_val(dst))?;
        self.ctx.bind()?;
        // SAFETY: range checked above; every bit pattern is a valid T.
        check("cuMemcpyDtoH", unsafe { result::memcpy_dtoh_sync(dst, self.ptr + offset as u64) })
    }

    /// Fills `len` bytes from `offset` with `value`; returns once done (a memset is otherwise
    /// asynchronous to the host and unordered with non-blocking streams, see [`Self::write`]).
    pub fn fill(&self, offset: usize, len: usize, value: u8) -> Result<()> {
        self.check_range("device buffer fill", offset, len)?;
        self.ctx.bind()?;
        // SAFETY: range checked above.
        unsafe {
            check("cuMemsetD8Async", result::memset_d8_async(self.ptr + offset as u64, value, len, std::ptr::null_mut()))?;
            check("cuStreamSynchronize", result::stream::synchronize(std::ptr::null_mut()))
        }
    }

    /// Writes one u32 at byte `offset` through `stream`'s copy engine and waits for it: reaches
    /// the buffer even while a persistent kernel occupies every SM (the host's abort signal).
    pub fn write_u32_now(&self, stream: &Stream, offset: usize, value: u32) -> Result<()> {
        self.check_range("device buffer word write", offset, 4)?;
        self.ctx.bind()?;
        let src = [value];
        // SAFETY: range checked; `src` outlives the copy, which is synchronised before return.
        check("cuMemcpyHtoDAsync", unsafe { result::memcpy_htod_async(self.ptr + offset as u64, &src, stream.raw) })?;
        stream.synchronize()
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        // SAFETY: ptr came from cuMemAlloc in this context. Errors at teardown have nowhere to go.
        unsafe {
            let _ = self.ctx.bind();
            let _ = result::free_sync(self.ptr);
        }
    }
}

/// Pinned host memory mapped into every device's address space (zero-copy): the kernels write
/// their error record here and the host reads it without a copy. `T: Pod`: whatever a kernel
/// wrote is a valid value.
#[derive(Debug)]
pub struct HostMapped<T: Pod> {
    host: *mut T,
    dev: u64,
    len: usize,
}

// SAFETY: pinned memory is usable from any thread.
unsafe impl<T: Pod> Send for HostMapped<T> {}
// SAFETY: see above.
unsafe impl<T: Pod> Sync for HostMapped<T> {}

impl<T: Pod> HostMapped<T> {
    /// Allocates `len` (at least 1) zeroed values; `ctx` must be current-able (portable memory).
    pub fn alloc(ctx: &Context, len: usize) -> Result<Self> {
        ctx.bind()?;
        let len = len.max(1);
        let bytes = std::mem::size_of::<T>().checked_mul(len).ok_or(Error::OutOfBounds {
            what: "host-mapped allocation",
            offset: 0,
            len,
            size: usize::MAX,
        })?;
        let flags = sys::CU_MEMHOSTALLOC_PORTABLE | sys::CU_MEMHOSTALLOC_DEVICEMAP;
        // SAFETY: a plain pinned allocation.
        let host = check("cuMemHostAlloc", unsafe { result::malloc_host(bytes, flags) })? as *mut T;
        let mut dev: sys::CUdeviceptr = 0;
        // SAFETY: host came from cuMemHostAlloc with DEVICEMAP.
        let mapped = check_raw("cuMemHostGetDevicePointer", unsafe { sys::cuMemHostGetDevicePointer_v2(&mut dev, host as *mut c_void, 0) });
        let m = HostMapped { host, dev, len };
        mapped?;
        for i in 0..len {
            m.set(i, T::zeroed());
        }
        Ok(m)
    }

    /// The address kernels use.
    pub fn device_ptr(&self) -> u64 {
        self.dev
    }

    /// Element `i` (volatile: the device may have written it); None past the end.
    pub fn get(&self, i: usize) -> Option<T> {
        // SAFETY: in bounds; pinned memory stays valid until drop; T is Pod.
        (i < self.len).then(|| unsafe { std::ptr::read_volatile(self.host.add(i)) })
    }

    /// Writes element `i`; false past the end.
    pub fn set(&self, i: usize, v: T) -> bool {
        if i >= self.len {
            return false;
        }
        // SAFETY: in bounds; pinned memory stays valid until drop.
        unsafe { std::ptr::write_volatile(self.host.add(i), v) };
        true
    }
}

impl<T: Pod> Drop for HostMapped<T> {
    fn drop(&mut self) {
        // SAFETY: came from cuMemHostAlloc.
        unsafe {
            let _ = result::free_host(self.host as *mut c_void);
        }
    }
}

/// A non-blocking stream.
#[derive(Debug)]
pub struct Stream {
    raw: sys::CUstream,
    ctx: Arc<Context>,
}

// SAFETY: streams may be used from any thread with their context bound.
unsafe impl Send for Stream {}
// SAFETY: see above.
unsafe impl Sync for Stream {}

impl Stream {
    pub fn new(ctx: &Arc<Context>) -> Result<Self> {
        ctx.bind()?;
        let raw = check("cuStreamCreate", result::stream::create(result::stream::StreamKind::NonBlocking))?;
        Ok(Stream { raw, ctx: ctx.clone() })
    }

    pub fn synchronize(&self) -> Result<()> {
        self.ctx.bind()?;
        // SAFETY: valid stream.
        check("cuStreamSynchronize", unsafe { result::stream::synchronize(self.raw) })
    }

    /// Whether all work on the stream finished (`Ok(false)`: still running).
    pub fn query(&self) -> Result<bool> {
        self.ctx.bind()?;
        self.query_bound()
    }

    /// [`Self::query`] without making the context current first: one `cuStreamQuery`, for
    /// polling loops. The caller bound [`Self::context`] on this thread and has called nothing
    /// since that could bind another (a wrong current context is a driver error, never a wrong
    /// answer: the stream handle names its own context).
    pub(crate) fn query_bound(&self) -> Result<bool> {
        // SAFETY: valid stream.
        match unsafe { sys::cuStreamQuery(self.raw) } {
            sys::CUresult::CUDA_SUCCESS => Ok(true),
            sys::CUresult::CUDA_ERROR_NOT_READY => Ok(false),
            e => check_raw("cuStreamQuery", e).map(|_| false),
        }
    }

    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // SAFETY: created in `new`.
        unsafe {
            let _ = self.ctx.bind();
            let _ = result::stream::destroy(self.raw);
        }
    }
}

/// A timing event.
#[derive(Debug)]
pub struct Event {
    raw: sys::CUevent,
    ctx: Arc<Context>,
}

impl Event {
    pub fn new(ctx: &Arc<Context>) -> Result<Self> {
        ctx.bind()?;
        let raw = check("cuEventCreate", result::event::create(sys::CUevent_flags::CU_EVENT_DEFAULT))?;
        Ok(Event { raw, ctx: ctx.clone() })
    }

    pub fn record(&self, stream: &Stream) -> Result<()> {
        self.ctx.bind()?;
        // SAFETY: event and stream belong to the same context.
        check("cuEventRecord", unsafe { result::event::record(self.raw, stream.raw) })
    }

    /// Milliseconds from `self` to `end` (both recorded and complete).
    pub fn elapsed_ms(&self, end: &Event) -> Result<f32> {
        self.ctx.bind()?;
        // SAFETY: both events valid.
        unsafe {
            check("cuEventSynchronize", result::event::synchronize(end.raw))?;
            check("cuEventElapsedTime", result::event::elapsed(self.raw, end.raw))
        }
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: created in `new`.
        unsafe {
            let _ = self.ctx.bind();
            let _ = result::event::destroy(self.raw);
        }
    }
}

/// A loaded PTX module.
#[derive(Debug)]
pub struct Module {
    raw: sys::CUmodule,
    ctx: Arc<Context>,
    code: Code,
}

/// Which image a module was loaded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Machine code ptxas made at build time (FLASHMOE_CUBIN=1): no compilation at load.
    Cubin,
    /// PTX the driver compiled when the module was loaded.
    Ptx,
}

// SAFETY: module handles are context-bound plain handles.
unsafe impl Send for Module {}
// SAFETY: see above.
unsafe impl Sync for Module {}

impl Module {
    /// Loads `cubin` where it is not empty and the driver takes it for `ctx`'s device, else
    /// JIT-compiles `ptx` (also when FLASHMOE_JIT=1 asks for the PTX).
    pub fn load(ctx: &Arc<Context>, cubin: &[u8], ptx: &str) -> Result<Self> {
        ctx.bind()?;
        if !cubin.is_empty() && std::env::var("FLASHMOE_JIT").map_or(true, |v| v != "1") {
            // An ELF image, 8-byte aligned for the driver (include_bytes! promises 1).
            let mut words = vec![0u64; cubin.len().div_ceil(8)];
            // SAFETY: `words` holds at least cubin.len() bytes; the regions do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(cubin.as_ptr(), words.as_mut_ptr() as *mut u8, cubin.len()) };
            // SAFETY: a complete cubin; the driver copies what it keeps. A cubin for another
            // device (or a driver too old for it) fails here and the PTX is loaded instead.
            if let Ok(raw) = unsafe { result::module::load_data(words.as_ptr() as *const c_void) } {
                return Ok(Module { raw, ctx: ctx.clone(), code: Code::Cubin });
            }
        }
        let image = CString::new(ptx).map_err(|_| Error::InvalidPtx)?;
        // SAFETY: image is a NUL-terminated PTX string.
        let raw = check("cuModuleLoadData", unsafe { result::module::load_data(image.as_ptr() as *const c_void) })?;
        Ok(Module { raw, ctx: ctx.clone(), code: Code::Ptx })
    }

    /// Which image was loaded.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The driver's handle (valid while this value lives), e.g. for `nvshmemx_cumodule_init`.
    pub fn raw(&self) -> sys::CUmodule {
        self.raw
    }

    pub fn function(&self, name: &str) -> Result<Function> {
        self.ctx.bind()?;
        let cname = CString::new(name).map_err(|_| Error::InvalidPtx)?;
        // SAFETY: module is loaded.
        let raw = check("cuModuleGetFunction", unsafe { result::module::get_function(self.raw, cname) })?;
        Ok(Function { raw, ctx: self.ctx.clone(), code: self.code })
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        // SAFETY: loaded in `load`.
        unsafe {
            let _ = self.ctx.bind();
            let _ = result::module::unload(self.raw);
        }
    }
}

/// A kernel entry point of a [`Module`] (valid while the module lives).
#[derive(Debug, Clone)]
pub struct Function {
    raw: sys::CUfunction,
    ctx: Arc<Context>,
    code: Code,
}

// SAFETY: function handles are plain handles.
unsafe impl Send for Function {}
// SAFETY: see above.
unsafe impl Sync for Function {}

/// Grid, block and dynamic shared memory of a launch.
#[derive(Clone, Copy, Debug)]
pub struct LaunchConfig {
    pub grid: u32,
    pub block: u32,
    pub shared_bytes: u32,
}

impl Function {
    /// Allows `bytes` of dynamic shared memory (needed above 48 KiB).
    pub fn set_max_dynamic_shared(&self, bytes: u32) -> Result<()> {
        self.ctx.bind()?;
        // SAFETY: valid function handle.
        check("cuFuncSetAttribute", unsafe {
            result::function::set_function_attribute(
                self.raw,
                sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                bytes as i32,
            )
        })
    }

    /// Blocks of `threads` threads with `shared_bytes` dynamic shared memory that fit on one SM.
    pub fn max_blocks_per_sm(&self, threads: u32, shared_bytes: u32) -> Result<u32> {
        self.ctx.bind()?;
        // SAFETY: valid function handle.
        let n = check("cuOccupancyMaxActiveBlocksPerMultiprocessor", unsafe {
            result::occupancy::max_active_block_per_multiprocessor(self.raw, threads as i32, shared_bytes as usize)
        })?;
        Ok(n as u32)
    }

    /// The image of the module it came from.
    pub fn code(&self) -> Code {
        self.code
    }

    /// Registers per thread this kernel was compiled with (by ptxas or the driver's JIT).
    pub fn registers(&self) -> Result<i32> {
        self.ctx.bind()?;
        // SAFETY: valid function handle.
        check("cuFuncGetAttribute", unsafe {
            result::function::get_function_attribute(self.raw, sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_NUM_REGS)
        })
    }

    /// Launches with `args` (pointers to each argument value), cooperatively when asked: then
    /// every block is co-resident or the launch fails with [`Error::CooperativeLaunchTooLarge`].
    ///
    /// # Safety
    /// `args` must match the kernel's parameter list and every pointer it carries must stay valid
    /// until the kernel finishes.
    pub unsafe fn launch(&self, stream: &Stream, cfg: LaunchConfig, args: &mut [*mut c_void], cooperative: bool) -> Result<()> {
        self.ctx.bind()?;
        let grid = (cfg.grid, 1, 1);
        let block = (cfg.block, 1, 1);
        // SAFETY: forwarded from the caller.
        let r = unsafe {
            if cooperative {
                result::launch_cooperative_kernel(self.raw, grid, block, cfg.shared_bytes, stream.raw, args)
            } else {
                result::launch_kernel(self.raw, grid, block, cfg.shared_bytes, stream.raw, args)
            }
        };
        launch_result(
            if cooperative { "cuLaunchCooperativeKernel" } else { "cuLaunchKernel" },
            r.err().map_or(sys::CUresult::CUDA_SUCCESS, |e| e.0),
            &self.ctx,
            cfg.grid,
        )
    }

    /// Launches in clusters of `cluster` blocks (sm_90; `cfg.grid` a multiple of it), also
    /// cooperatively when asked (`cuLaunchKernelEx` with the cluster-dimension and cooperative
    /// attributes).
    ///
    /// # Safety
    /// As [`Function::launch`].
    pub unsafe fn launch_clusters(
        &self,
        stream: &Stream,
        cfg: LaunchConfig,
        cluster: u32,
        args: &mut [*mut c_void],
        cooperative: bool,
    ) -> Result<()> {
        self.ctx.bind()?;
        // SAFETY: the attribute value is a C union of plain integers; all zeros is valid.
        let zero = || -> sys::CUlaunchAttributeValue { unsafe { std::mem::zeroed() } };
        let mut dim = zero();
        dim.clusterDim = sys::CUlaunchAttributeValue_union__bindgen_ty_1 { x: cluster, y: 1, z: 1 };
        let mut attrs =
            vec![sys::CUlaunchAttribute { id: sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION, pad: [0; 4], value: dim }];
        if cooperative {
            let mut coop = zero();
            coop.cooperative = 1;
            attrs.push(sys::CUlaunchAttribute { id: sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_COOPERATIVE, pad: [0; 4], value: coop });
        }
        let config = sys::CUlaunchConfig {
            gridDimX: cfg.grid,
            gridDimY: 1,
            gridDimZ: 1,
            blockDimX: cfg.block,
            blockDimY: 1,
            blockDimZ: 1,
            sharedMemBytes: cfg.shared_bytes,
            hStream: stream.raw,
            attrs: attrs.as_mut_ptr(),
            numAttrs: attrs.len() as u32,
        };
        // SAFETY: `config` and its attributes outlive the call; the rest is forwarded from the
        // caller.
        let r = unsafe { sys::cuLaunchKernelEx(&config, self.raw, args.as_mut_ptr(), std::ptr::null_mut()) };
        launch_result("cuLaunchKernelEx", r, &self.ctx, cfg.grid)
    }
}

/// A launch's result: a grid too large to be co-resident is its own typed error.
fn launch_result(call: &'static str, r: sys::CUresult, ctx: &Context, blocks: u32) -> Result<()> {
    match r {
        sys::CUresult::CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE => Err(Error::CooperativeLaunchTooLarge { gpu: ctx.ordinal(), blocks }),
        other => check_raw(call, other),
    }
}

/// An executable CUDA graph of one kernel node on one GPU, cooperative when asked: built and
/// instantiated once, then launched any number of times, each time with fresh argument values
/// (`cuGraphExecKernelNodeSetParams` then `cuGraphLaunch`). The function, grid, block, dynamic
/// shared memory and the cooperative attribute are fixed when it is built; only the arguments
/// change from launch to launch.
///
/// Built explicitly (`cuGraphCreate` + `cuGraphAddKernelNode`), not by stream capture: nothing
/// else on the stream or in the process can end up in the graph, and no other thread's CUDA
/// calls can fail because a capture is under way.
#[derive(Debug)]
pub struct KernelGraph {
    graph: sys::CUgraph,
    exec: sys::CUgraphExec,
    node: sys::CUgraphNode,
    /// The node's launch shape (`kernelParams` is set per launch).
    shape: sys::CUDA_KERNEL_NODE_PARAMS,
    ctx: Arc<Context>,
}

// SAFETY: graph handles may be used from any thread with their context bound; `&mut self` on
// every use keeps one thread at a time (the driver does not serialise calls on one graph).
unsafe impl Send for KernelGraph {}

impl KernelGraph {
    /// A graph launching `function` with `cfg`, cooperatively when asked (then the whole grid
    /// must be co-resident, as for [`Function::launch`]).
    ///
    /// `args` are the node's first arguments; they never run: every [`Self::launch`] sets its own.
    ///
    /// # Safety
    /// `args` must match the kernel's parameter list (the driver copies the values; the graph
    /// keeps no pointer to them).
    pub unsafe fn new(function: &Function, cfg: LaunchConfig, args: &mut [*mut c_void], cooperative: bool) -> Result<Self> {
        let ctx = function.ctx.clone();
        ctx.bind()?;
        let shape = sys::CUDA_KERNEL_NODE_PARAMS {
            func: function.raw,
            gridDimX: cfg.grid,
            gridDimY: 1,
            gridDimZ: 1,
            blockDimX: cfg.block,
            blockDimY: 1,
            blockDimZ: 1,
            sharedMemBytes: cfg.shared_bytes,
            kernelParams: std::ptr::null_mut(),
            extra: std::ptr::null_mut(),
            kern: std::ptr::null_mut(),
            ctx: ctx.ctx,
        };
        let mut g = KernelGraph { graph: std::ptr::null_mut(), exec: std::ptr::null_mut(), node: std::ptr::null_mut(), shape, ctx };
        // From here on, dropping `g` destroys whatever was created.
        // SAFETY: out-pointers to fields of `g`; the node parameters point at `args`, which
        // outlive the call (the driver copies the values).
        unsafe {
            check_raw("cuGraphCreate", sys::cuGraphCreate(&mut g.graph, 0))?;
            let first = sys::CUDA_KERNEL_NODE_PARAMS { kernelParams: args.as_mut_ptr(), ..g.shape };
            check_raw("cuGraphAddKernelNode", sys::cuGraphAddKernelNode_v2(&mut g.node, g.graph, std::ptr::null(), 0, &first))?;
            if cooperative {
                let mut value: sys::CUkernelNodeAttrValue = std::mem::zeroed();
                value.cooperative = 1;
                check_raw(
                    "cuGraphKernelNodeSetAttribute",
                    sys::cuGraphKernelNodeSetAttribute(g.node, sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_COOPERATIVE, &value),
                )?;
            }
            launch_result("cuGraphInstantiateWithFlags", sys::cuGraphInstantiateWithFlags(&mut g.exec, g.graph, 0), &g.ctx, cfg.grid)?;
        }
        Ok(g)
    }

    /// Sets the node's arguments to `args`, then launches the graph on `stream` (which must
    /// belong to the graph's context). The new values apply to this launch and later ones, never
    /// to a launch already enqueued (the driver's guarantee for `cuGraphExecKernelNodeSetParams`).
    ///
    /// # Safety
    /// As [`Function::launch`]: `args` match the kernel's parameters, and every pointer they carry
    /// stays valid until the kernel finishes.
    pub unsafe fn launch(&mut self, stream: &Stream, args: &mut [*mut c_void]) -> Result<()> {
        if stream.ctx.ctx != self.ctx.ctx {
            return Err(Error::Unavailable("a kernel graph launched on a stream of another GPU"));
        }
        self.ctx.bind()?;
        let p = sys::CUDA_KERNEL_NODE_PARAMS { kernelParams: args.as_mut_ptr(), ..self.shape };
        // SAFETY: exec and node are this graph's; `args` outlive the call (values are copied).
        unsafe {
            check_raw("cuGraphExecKernelNodeSetParams", sys::cuGraphExecKernelNodeSetParams_v2(self.exec, self.node, &p))?;
            launch_result("cuGraphLaunch", sys::cuGraphLaunch(self.exec, stream.raw), &self.ctx, self.shape.gridDimX)
        }
    }
}

impl Drop for KernelGraph {
    /// An executable graph still running is not stopped: the driver frees it when it completes.
    fn drop(&mut self) {
        // SAFETY: created in `new` (null when that failed first). Errors have nowhere to go.
        unsafe {
            let _ = self.ctx.bind();
            if !self.exec.is_null() {
                let _ = sys::cuGraphExecDestroy(self.exec);
            }
            if !self.graph.is_null() {
                let _ = sys::cuGraphDestroy(self.graph);
            }
        }
    }
}

/// The driver's tensor map with the alignment CUDA 13 requires (cudarc's `cuda-12080` bindings
/// declare 64; shared/docs/hopper-recipes.md).
#[repr(C, align(128))]
struct AlignedTensorMap(sys::CUtensorMap);

/// 2D TMA tensor maps of row-major 16-bit matrices, consecutive in device memory (128 bytes
/// each): kernels take their addresses (a by-value parameter cannot be `__grid_constant__` from
/// Rust).
#[derive(Debug)]
pub struct TensorMap {
    buf: DeviceBuffer,
}

/// One 2D map: `rows` x `cols` values of a 16-bit type at `ptr`, `row_bytes` apart.
#[derive(Clone, Copy, Debug)]
pub struct MapSpec {
    /// Bf16 when true, else f16.
    pub bf16: bool,
    pub ptr: u64,
    pub rows: u64,
    pub cols: u64,
    pub row_bytes: u64,
    /// Rows of a box (at most 256).
    pub box_rows: u32,
}

impl TensorMap {
    /// The map of `rows` x `cols` bf16 values at `ptr` (`row_bytes` apart, a multiple of 16),
    /// read in boxes of `box_rows` x `box_cols` (see [`TensorMap::new`]).
    pub fn bf16_2d(ctx: &Arc<Context>, ptr: u64, rows: u64, cols: u64, row_bytes: u64, box_rows: u32, box_cols: u32) -> Result<Self> {
        Self::new(ctx, &[MapSpec { bf16: true, ptr, rows, cols, row_bytes, box_rows }], box_cols)
    }

    /// One map per spec, read in boxes of its `box_rows` x `box_cols` (at most 256 rows;
    /// `box_cols` x 2 <= 128 bytes for the 128-byte swizzle, which the maps use: box row r's
    /// 16-byte chunk c lands at chunk c ^ (r % 8), the wgmma operand layout). Out-of-bounds parts
    /// of a box read as zeros.
    pub fn new(ctx: &Arc<Context>, specs: &[MapSpec], box_cols: u32) -> Result<Self> {
        ctx.bind()?;
        let mut bytes: Vec<u8> = Vec::with_capacity(128 * specs.len());
        for s in specs {
            bytes.extend_from_slice(&Self::encode(s, box_cols)?);
        }
        let buf = DeviceBuffer::alloc(ctx, bytes.len().max(128))?;
        buf.write(0, &bytes)?;
        Ok(TensorMap { buf })
    }

    /// Re-encodes map `index` in place (its device address stays, so launches and graphs that
    /// hold it see the new map): for a tensor that moved, such as a region of a scratch arena
    /// that grew. The write completes before it returns; nothing may be using the map meanwhile.
    pub fn rewrite(&self, index: usize, spec: &MapSpec, box_cols: u32) -> Result<()> {
        self.buf.write(128 * index, &Self::encode(spec, box_cols)?)
    }

    /// One 128-byte `CUtensorMap` (128-byte swizzle, boxes of `spec.box_rows` x `box_cols`).
    fn encode(s: &MapSpec, box_cols: u32) -> Result<[u8; 128]> {
        if box_cols * 2 > 128 || s.box_rows > 256 || !s.row_bytes.is_multiple_of(16) || !s.ptr.is_multiple_of(16) {
            return Err(Error::OutOfBounds {
                what: "tensor map box or stride",
                offset: s.row_bytes as usize,
                len: box_cols as usize,
                size: 128,
            });
        }
        // SAFETY: plain data, fully written by the driver below.
        let mut map: AlignedTensorMap = unsafe { std::mem::zeroed() };
        let (dims, strides, boxes, elem) = ([s.cols, s.rows], [s.row_bytes], [box_cols, s.box_rows], [1u32, 1]);
        let dtype = if s.bf16 {
            sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
        } else {
            sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_FLOAT16
        };
        // SAFETY: every array has the rank's length (strides: rank - 1); `map` is 128-aligned.
        check_raw("cuTensorMapEncodeTiled", unsafe {
            sys::cuTensorMapEncodeTiled(
                &mut map.0,
                dtype,
                2,
                s.ptr as *mut c_void,
                dims.as_ptr(),
                strides.as_ptr(),
                boxes.as_ptr(),
                elem.as_ptr(),
                sys::CUtensorMapInterleave::CU_TENSOR_MAP_INTERLEAVE_NONE,
                sys::CUtensorMapSwizzle::CU_TENSOR_MAP_SWIZZLE_128B,
                sys::CUtensorMapL2promotion::CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                sys::CUtensorMapFloatOOBfill::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
            )
        })?;
        let mut out = [0u8; 128];
        out.copy_from_slice(bytemuck::cast_slice(&map.0.opaque));
        Ok(out)
    }

    /// The first map's device address (128-byte aligned: allocations are 256-aligned); map i
    /// is 128·i bytes further.
    pub fn device_ptr(&self) -> u64 {
        self.buf.ptr()
    }
}

#[cfg(test)]
mod tests {
    /// The form NVML's `nvmlDeviceGetHandleByPciBusId_v2` takes (nvidia-smi's `pci.bus_id`).
    #[test]
    fn pci_addresses_are_written_as_nvml_reads_them() {
        assert_eq!(super::pci_bus_id(0, 0x19, 0), "00000000:19:00.0");
        assert_eq!(super::pci_bus_id(1, 0xdb, 0x1f), "00000001:DB:1F.0");
    }
}
