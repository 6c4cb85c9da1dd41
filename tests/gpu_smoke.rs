//! Launches a kernel from the embedded PTX on GPU 0 and checks its result.

use std::ffi::c_void;

use flashmoe::Cluster;
use flashmoe::driver::{DeviceBuffer, LaunchConfig, Stream};
use flashmoe::numeric::{SplitMix64, exact_values};

#[test]
#[ignore = "needs GPU"]
fn smoke_axpy_from_embedded_ptx() {
    let cluster = Cluster::first(1).expect("a GPU");
    let gpu = &cluster.gpus()[0];
    println!("GPU 0: {} ({} PTX, {} SMs)", gpu.name, gpu.arch().name(), gpu.sms);
    let n = 100_003usize; // not a multiple of the block size
    let mut rng = SplitMix64::new(42);
    let x: Vec<f32> = exact_values(&mut rng, n, 6).into_iter().map(|v| v as f32).collect();
    let y: Vec<f32> = exact_values(&mut rng, n, 6).into_iter().map(|v| v as f32).collect();
    let ctx = gpu.context();
    let (dx, dy, dout, dstamp) = (
        DeviceBuffer::alloc(ctx, 4 * n).unwrap(),
        DeviceBuffer::alloc(ctx, 4 * n).unwrap(),
        DeviceBuffer::alloc(ctx, 4 * n).unwrap(),
        DeviceBuffer::alloc(ctx, 16).unwrap(),
    );
    dx.write(0, &x).unwrap();
    dy.write(0, &y).unwrap();
    dout.fill(0, 4 * n, 0xff).unwrap(); // NaN poison: every element must be written
    let f = gpu.function("smoke_axpy").unwrap();
    let stream = Stream::new(ctx).unwrap();
    let (mut a, mut px, mut py, mut po, mut nn, mut ps) = (2.5f32, dx.ptr(), dy.ptr(), dout.ptr(), n as u32, dstamp.ptr());
    let mut args: Vec<*mut c_void> = vec![
        &mut a as *mut f32 as *mut c_void,
        &mut px as *mut u64 as *mut c_void,
        &mut py as *mut u64 as *mut c_void,
        &mut po as *mut u64 as *mut c_void,
        &mut nn as *mut u32 as *mut c_void,
        &mut ps as *mut u64 as *mut c_void,
    ];
    // SAFETY: argument list matches smoke_axpy; buffers outlive the synchronisation below.
    unsafe { f.launch(&stream, LaunchConfig { grid: 64, block: 256, shared_bytes: 0 }, &mut args, false).unwrap() };
    stream.synchronize().unwrap();
    let mut out = vec![0f32; n];
    dout.read(0, &mut out).unwrap();
    let mut stamp = [0u64; 2];
    dstamp.read(0, &mut stamp).unwrap();
    for i in 0..n {
        assert_eq!(out[i], 2.5 * x[i] + y[i], "element {i}"); // exact: small dyadic values
    }
    assert!(stamp[0] > 0 && stamp[1] >= stamp[0], "globaltimer stamps {stamp:?}");
    println!("smoke_axpy: {n} elements exact; kernel body took {} ns by %globaltimer", stamp[1] - stamp[0]);
}
