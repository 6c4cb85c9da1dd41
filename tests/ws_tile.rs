//! The warp-specialized pipeline alone (`ws256_tile_gemm_bf16`: the forward's producer /
//! consumer mainloop and epilogue on 128x256 tiles, no MoE roles) against the CPU, and its
//! throughput.

use std::ffi::c_void;

use flashmoe::driver::{DeviceBuffer, LaunchConfig, Stream, TensorMap};
use flashmoe::numeric::{SplitMix64, decode, encode};
use flashmoe::{Arch, Cluster, DType};

/// The 128x256 tile (`ws256_tile_gemm_bf16`: B by TMA, A by cp.async from gathered rows or by
/// TMA) against the CPU, from one block and one tile up.
#[test]
#[ignore = "needs GPU"]
fn the_128x256_tile_matches_the_cpu() {
    for a_tma in [false, true] {
        // (blocks, m_tiles, n_tiles, K, row tiles per B panel)
        for (blocks, m_tiles, n_tiles, k, panel) in
            [(1, 1usize, 1, 64, 1usize), (1, 1, 1, 2048, 1), (1, 2, 1, 2048, 2), (4, 3, 2, 2048, 3), (2, 3, 3, 1024, 3), (3, 5, 2, 1024, 2)]
        {
            let panels = m_tiles.div_ceil(panel);
            println!(
                "case: {blocks} blocks, {m_tiles} x {n_tiles} tiles of 128x256, K = {k}, {panels} B panels, A by {}",
                if a_tma { "TMA" } else { "cp.async" }
            );
            let cluster = Cluster::first(1).expect("a GPU");
            let gpu = &cluster.gpus()[0];
            if gpu.arch() != Arch::Sm90a {
                return;
            }
            let ctx = gpu.context();
            let a_total = if a_tma { m_tiles * 128 } else { 500 };
            let mut rng = SplitMix64::new(7);
            let mut small = |n: usize| (0..n).map(|_| rng.next_mantissa().rem_euclid(7) as f64 - 3.0).collect::<Vec<f64>>();
            let (a, b) = (small(a_total * k), small(panels * n_tiles * 256 * k));
            let rows: Vec<u32> = (0..m_tiles * 128).map(|i| if a_tma { i as u32 } else { ((i * 7919) % a_total) as u32 }).collect();
            let ldo = n_tiles * 256 * 2;
            let (da, db, drows, dout) = (
                DeviceBuffer::alloc(ctx, a.len() * 2).unwrap(),
                DeviceBuffer::alloc(ctx, b.len() * 2).unwrap(),
                DeviceBuffer::alloc(ctx, rows.len() * 4).unwrap(),
                DeviceBuffer::alloc(ctx, m_tiles * 128 * ldo).unwrap(),
            );
            da.write(0, &encode(DType::Bf16, &a)).unwrap();
            db.write(0, &encode(DType::Bf16, &b)).unwrap();
            drows.write(0, &rows).unwrap();
            dout.fill(0, m_tiles * 128 * ldo, 0xff).unwrap();
            let stream = Stream::new(ctx).unwrap();
            let (a_map, b_map) = maps_256(ctx, &da, a_total, &db, panels * n_tiles * 256, k);
            launch_256(
                gpu,
                &stream,
                blocks,
                &da,
                &drows,
                k,
                if a_tma { a_map.device_ptr() } else { 0 },
                &b_map,
                (m_tiles, n_tiles, panel),
                &dout,
                ldo,
            );
            stream.synchronize().unwrap();
            let mut raw = vec![0u8; m_tiles * 128 * ldo];
            dout.read(0, &mut raw).unwrap();
            let got = decode(DType::Bf16, &raw);
            for (r, &src) in rows.iter().enumerate() {
                let b0 = r / 128 / panel * n_tiles * 256;
                for c in 0..n_tiles * 256 {
                    let want: f64 = (0..k).map(|i| a[src as usize * k + i] * b[(b0 + c) * k + i]).sum();
                    let g = got[r * n_tiles * 256 + c];
                    assert!((g - want).abs() <= want.abs() / 256.0, "({r}, {c}) = {g}, want {want}");
                }
            }
        }
    }
}

/// TMA maps of A (`a_rows` rows, boxes of 128) and B (`b_rows` rows, boxes of 256), K = `k` bf16.
fn maps_256(
    ctx: &std::sync::Arc<flashmoe::driver::Context>,
    a: &DeviceBuffer,
    a_rows: usize,
    b: &DeviceBuffer,
    b_rows: usize,
    k: usize,
) -> (TensorMap, TensorMap) {
    let k2 = (k * 2) as u64;
    (
        TensorMap::bf16_2d(ctx, a.ptr(), a_rows as u64, k as u64, k2, 128, 64).unwrap(),
        TensorMap::bf16_2d(ctx, b.ptr(), b_rows as u64, k as u64, k2, 256, 64).unwrap(),
    )
}

#[allow(clippy::too_many_arguments)]
fn launch_256(
    gpu: &flashmoe::Gpu,
    stream: &Stream,
    blocks: u32,
    a: &DeviceBuffer,
    rows: &DeviceBuffer,
    k: usize,
    a_map: u64,
    b_map: &TensorMap,
    (m_tiles, n_tiles, panel_tiles): (usize, usize, usize),
    out: &DeviceBuffer,
    ldo: usize,
) {
    let f = gpu.function_in(Arch::Sm90a, "ws256_tile_gemm_bf16").unwrap();
    f.set_max_dynamic_shared(flashmoe::layout::WS_SHARED_BYTES).unwrap();
    let (mut pa, mut pr, mut lda, mut am, mut bm) = (a.ptr(), rows.ptr(), (k * 2) as u64, a_map, b_map.device_ptr());
    let (mut kb, mut mt, mut nt, mut pt) = ((k * 2) as u32, m_tiles as u32, n_tiles as u32, panel_tiles as u32);
    let (mut po, mut lo) = (out.ptr(), ldo as u64);
    let mut args: Vec<*mut c_void> = vec![
        &mut pa as *mut u64 as *mut c_void,
        &mut pr as *mut u64 as *mut c_void,
        &mut lda as *mut u64 as *mut c_void,
        &mut am as *mut u64 as *mut c_void,
        &mut bm as *mut u64 as *mut c_void,
        &mut kb as *mut u32 as *mut c_void,
        &mut mt as *mut u32 as *mut c_void,
        &mut nt as *mut u32 as *mut c_void,
        &mut pt as *mut u32 as *mut c_void,
        &mut po as *mut u64 as *mut c_void,
        &mut lo as *mut u64 as *mut c_void,
    ];
    let cfg = LaunchConfig { grid: blocks, block: 384, shared_bytes: flashmoe::layout::WS_SHARED_BYTES };
    // SAFETY: the arguments match ws256_tile_gemm_bf16; the caller keeps the buffers and maps
    // alive until the stream is synchronised.
    unsafe { f.launch(stream, cfg, &mut args, false).unwrap() };
}

/// Throughput of the 128x256 tile, one block per SM, CUDA events, median of 20 after warm-up;
/// asserts nothing timed. Two problems of N = K = 2048: one weight matrix (M = 8192, B stays in
/// L2), and an MoE layer's expert phase (32 experts of 1024 rows each, every expert its own
/// 8 MB of weights, A gathered from 16384 token rows): the gap between them is what the memory
/// system costs the fused kernel's tasks.
#[test]
#[ignore = "needs GPU"]
fn the_128x256_tile_throughput() {
    use flashmoe::driver::Event;
    let cluster = Cluster::first(1).expect("a GPU");
    let gpu = &cluster.gpus()[0];
    if gpu.arch() != Arch::Sm90a {
        return;
    }
    let ctx = gpu.context();
    let (n, k) = (2048usize, 2048usize);
    for (experts, m, tokens) in [(1usize, 8192usize, 8192usize), (32, 32768, 16384)] {
        let da = DeviceBuffer::alloc(ctx, m * k * 2).unwrap();
        let db = DeviceBuffer::alloc(ctx, experts * n * k * 2).unwrap();
        da.fill(0, m * k * 2, 0x3c).unwrap();
        db.fill(0, experts * n * k * 2, 0x3c).unwrap();
        // Gathered rows: each token row read by two row tiles (top-2), in no order.
        let rows: Vec<u32> = (0..m as u64).map(|i| ((i * 2_654_435_761) % tokens as u64) as u32).collect();
        let drows = DeviceBuffer::alloc(ctx, m * 4).unwrap();
        drows.write(0, &rows).unwrap();
        let dout = DeviceBuffer::alloc(ctx, m * n * 2).unwrap();
        let stream = Stream::new(ctx).unwrap();
        let (a_map, b_map) = maps_256(ctx, &da, m, &db, experts * n, k);
        let flops = 2.0 * (m * n * k) as f64;
        for a_tma in [false, true] {
            let launch = || {
                launch_256(
                    gpu,
                    &stream,
                    132,
                    &da,
                    &drows,
                    k,
                    if a_tma { a_map.device_ptr() } else { 0 },
                    &b_map,
                    (m / 128, n / 256, m / 128 / experts),
                    &dout,
                    n * 2,
                )
            };
            for _ in 0..3 {
                launch();
            }
            let mut ms: Vec<f32> = (0..20)
                .map(|_| {
                    let (a, b) = (Event::new(ctx).unwrap(), Event::new(ctx).unwrap());
                    a.record(&stream).unwrap();
                    launch();
                    b.record(&stream).unwrap();
                    a.elapsed_ms(&b).unwrap()
                })
                .collect();
            ms.sort_by(f32::total_cmp);
            println!(
                "M={m} N={n} K={k} bf16, {experts} weight matrices, 128x256 tiles, B by TMA, A by {}: {:.3} ms = {:.0} TFLOP/s",
                if a_tma { "TMA" } else { "cp.async (gathered from 16384 rows)" },
                ms[10],
                flops / ms[10] as f64 / 1e9
            );
        }
    }
}
