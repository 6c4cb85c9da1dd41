//! The NVSHMEM build on one GPU as PE 0 of 1 (feature `nvshmem`; needs NVSHMEM's host library:
//! NVSHMEM_HOME or NVSHMEM_HOST_LIB, the same 3.4.5 release as the device bitcode). Follows the
//! host steps of shared/docs/nvshmem.md: init with a unique id, load the module,
//! `nvshmemx_cumodule_init`, symmetric buffers, a cooperative launch of `nvshmem_probe`, teardown.
//! Set NVSHMEM_DISABLE_NVLS=1 and NVSHMEM_REMOTE_TRANSPORT=none on the GPU machine.
#![cfg(feature = "nvshmem")]

use std::ffi::c_void;

use flashmoe::Cluster;
use flashmoe::dist::NvshmemHost;
use flashmoe::driver::{DeviceBuffer, LaunchConfig, Module, Stream};
use flashmoe::entries::{NVSHMEM_ENTRIES, nvshmem_probe as probe};
use flashmoe::kernels;

#[test]
#[ignore = "needs GPU"]
fn nvshmem_probe_on_one_pe() {
    let cluster = Cluster::first(1).expect("a GPU");
    let gpu = &cluster.gpus()[0];
    let ctx = gpu.context();
    ctx.bind().unwrap();
    let host = NvshmemHost::load().expect("NVSHMEM's host library (NVSHMEM_HOME or NVSHMEM_HOST_LIB)");
    println!("NVSHMEM host library: {}", host.path().display());
    let id = host.unique_id().unwrap();
    host.init(0, 1, &id, std::time::Duration::from_secs(120)).unwrap();
    assert_eq!(host.pe().unwrap(), (0, 1));

    let module = Module::load(ctx, kernels::nvshmem_cubin(), kernels::nvshmem_ptx()).unwrap();
    host.cumodule_init(&module).unwrap();
    let entry = NVSHMEM_ENTRIES.iter().find(|e| e.name == "nvshmem_probe").unwrap();
    let f = module.function(entry.name).unwrap();

    // Not a multiple of 16 or of the warp's chunk: the tail path of the warp put.
    let bytes = 4120usize;
    let (buf, signal) = (host.malloc(2 * bytes).unwrap(), host.malloc(8).unwrap());
    assert!(host.ptr(buf, 0).unwrap().is_some(), "host nvshmem_ptr to self is null");
    let pattern: Vec<u8> = (0..bytes).map(|i| (i * 7 + 3) as u8).collect();
    host.write_bytes(buf, &pattern).unwrap();
    host.write_bytes(buf + bytes as u64, &vec![0u8; bytes]).unwrap();
    host.write_bytes(signal, &0u64.to_le_bytes()).unwrap();
    let out = DeviceBuffer::alloc(ctx, 4 * probe::WORDS).unwrap();
    out.fill(0, 4 * probe::WORDS, 0).unwrap();

    let stream = Stream::new(ctx).unwrap();
    let (mut po, mut pb, mut nb, mut ps) = (out.ptr(), buf, bytes as u64, signal);
    let mut args: Vec<*mut c_void> = vec![
        &mut po as *mut u64 as *mut c_void,
        &mut pb as *mut u64 as *mut c_void,
        &mut nb as *mut u64 as *mut c_void,
        &mut ps as *mut u64 as *mut c_void,
    ];
    let cfg = LaunchConfig { grid: 1, block: entry.threads, shared_bytes: entry.shared_bytes };
    // SAFETY: the arguments match nvshmem_probe; buf and signal are symmetric, out holds WORDS
    // words, and all of them outlive the synchronisation below.
    unsafe { f.launch(&stream, cfg, &mut args, true).unwrap() };
    stream.synchronize().unwrap();

    let mut words = vec![0u32; probe::WORDS];
    out.read(0, &mut words).unwrap();
    println!("nvshmem_probe: {words:?}");
    assert_eq!(words[probe::DONE], probe::DONE_MAGIC, "the probe did not finish: {words:?}");
    assert_eq!((words[probe::MY_PE], words[probe::N_PES]), (0, 1));
    assert_eq!(words[probe::PTR_TO_SELF], 1, "device nvshmem_ptr to self is null");
    assert_eq!(words[probe::SIGNAL_ARRIVED], 1, "the signal did not arrive within the bound: {words:?}");
    assert_eq!(words[probe::SIGNAL_VALUE], 1);
    assert_eq!(words[probe::MISMATCHED], 0, "the put's copy differs in {} bytes", words[probe::MISMATCHED]);
    let mut copy = vec![0u8; bytes];
    host.read_bytes(buf + bytes as u64, &mut copy).unwrap();
    assert_eq!(copy, pattern, "host read-back of the put");
    println!("put_signal of {bytes} bytes and the bounded wait: {} ns", words[probe::WAITED_NS]);

    host.free(buf).unwrap();
    host.free(signal).unwrap();
    host.cumodule_finalize(&module).unwrap();
    drop(module);
    host.finalize().unwrap();
}
