//! The warp-specialized pipeline alone (`ws_tile_gemm_bf16`: producer + two wgmma consumers, no
//! MoE roles) against the CPU. A hang prints each warpgroup's last step (host-mapped progress
//! words) and exits instead of waiting forever: the step where it stopped says what deadlocked.

use std::ffi::c_void;
use std::time::{Duration, Instant};

use flashmoe::driver::{DeviceBuffer, HostMapped, LaunchConfig, Stream, TensorMap};
use flashmoe::numeric::{SplitMix64, decode, encode};
use flashmoe::{Arch, Cluster, DType};

#[test]
#[ignore = "needs GPU"]
fn the_warp_specialized_pipeline_alone_matches_the_cpu() {
    cases(false)
}

#[test]
#[ignore = "needs GPU"]
fn the_pipeline_with_b_by_tma_matches_the_cpu() {
    cases(true)
}

/// From the simplest case up: the first that hangs says what deadlocks. `tma`: B by TMA
/// (`ws_tile_gemm_bf16_tma`), else by the producer's cp.async.
fn cases(tma: bool) {
    for (blocks, m_tiles, n_tiles, k) in [(1, 1, 1, 64), (1, 1, 1, 2048), (1, 2, 1, 2048), (1, 3, 2, 2048), (4, 3, 3, 2048)] {
        run_case(blocks, m_tiles, n_tiles, k, tma);
    }
}

fn run_case(blocks: u32, m_tiles: usize, n_tiles: usize, k: usize, tma: bool) {
    println!("case: {blocks} blocks, {m_tiles} x {n_tiles} tiles, K = {k}, B by {}", if tma { "TMA" } else { "cp.async" });
    let cluster = Cluster::first(1).expect("a GPU");
    let gpu = &cluster.gpus()[0];
    if gpu.arch() != Arch::Sm90a {
        eprintln!("skipped: the warp-specialized pipeline needs sm_90a");
        return;
    }
    let ctx = gpu.context();
    let a_total = 500usize;
    let mut rng = SplitMix64::new(5);
    let mut small = |n: usize| (0..n).map(|_| rng.next_mantissa().rem_euclid(7) as f64 - 3.0).collect::<Vec<f64>>();
    let (a, b) = (small(a_total * k), small(n_tiles * 128 * k));
    let rows: Vec<u32> = (0..m_tiles * 128).map(|i| ((i * 7919) % a_total) as u32).collect();
    let ldo = n_tiles * 128 * 2;
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
    let progress = HostMapped::<u32>::alloc(ctx, 3 * blocks as usize).unwrap();
    let f = gpu.function_in(Arch::Sm90a, if tma { "ws_tile_gemm_bf16_tma" } else { "ws_tile_gemm_bf16" }).unwrap();
    f.set_max_dynamic_shared(flashmoe::layout::WS_SHARED_BYTES).unwrap();
    let stream = Stream::new(ctx).unwrap();
    let map = TensorMap::bf16_2d(ctx, db.ptr(), (n_tiles * 128) as u64, k as u64, (k * 2) as u64, flashmoe::layout::WEIGHT_BOX_ROWS, flashmoe::layout::WEIGHT_BOX_COLS).unwrap();
    let (mut pa, mut pr, mut lda, mut pb, mut ldb, mut pm) =
        (da.ptr(), drows.ptr(), (k * 2) as u64, db.ptr(), (k * 2) as u64, map.device_ptr());
    let (mut kb, mut mt, mut nt, mut po, mut lo, mut pp) =
        ((k * 2) as u32, m_tiles as u32, n_tiles as u32, dout.ptr(), ldo as u64, progress.device_ptr());
    let mut args: Vec<*mut c_void> =
        vec![&mut pa as *mut u64 as *mut c_void, &mut pr as *mut u64 as *mut c_void, &mut lda as *mut u64 as *mut c_void];
    if tma {
        args.push(&mut pm as *mut u64 as *mut c_void);
    } else {
        args.extend([&mut pb as *mut u64 as *mut c_void, &mut ldb as *mut u64 as *mut c_void]);
    }
    args.extend([
        &mut kb as *mut u32 as *mut c_void,
        &mut mt as *mut u32 as *mut c_void,
        &mut nt as *mut u32 as *mut c_void,
        &mut po as *mut u64 as *mut c_void,
        &mut lo as *mut u64 as *mut c_void,
        &mut pp as *mut u64 as *mut c_void,
    ]);
    let cfg = LaunchConfig { grid: blocks, block: 384, shared_bytes: flashmoe::layout::WS_SHARED_BYTES };
    // SAFETY: the argument list matches the entry; buffers and the map outlive the wait below.
    unsafe { f.launch(&stream, cfg, &mut args, false).unwrap() };
    let start = Instant::now();
    while !stream.query().unwrap() {
        if start.elapsed() > Duration::from_secs(10) {
            let steps: Vec<String> = (0..3 * blocks as usize).map(|i| format!("{:#x}", progress.get(i).unwrap_or(0))).collect();
            eprintln!("ws_tile_gemm_bf16 hung; last step per (block, warpgroup): {steps:?}");
            // The kernel cannot be stopped: leave without tearing down its context (that would wait).
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut raw = vec![0u8; m_tiles * 128 * ldo];
    dout.read(0, &mut raw).unwrap();
    let got = decode(DType::Bf16, &raw);
    for (r, &src) in rows.iter().enumerate() {
        for c in 0..n_tiles * 128 {
            let want: f64 = (0..k).map(|i| a[src as usize * k + i] * b[c * k + i]).sum();
            let g = got[r * n_tiles * 128 + c];
            assert!((g - want).abs() <= want.abs() / 256.0, "({r}, {c}) = {g}, want {want}");
        }
    }
    println!("ws_tile_gemm_bf16: {} x {} tiles on {blocks} blocks exact to bf16 rounding", m_tiles, n_tiles);
}

/// Throughput of the pipeline alone against the 128-thread wgmma tile (`gemm_tile_bf16`, one
/// tile per block, two blocks per SM) on the same GEMM: M = 8192 gathered rows, N = 2048,
/// K = 2048. Prints TFLOP/s (CUDA events, median of 20 after warm-up); asserts nothing timed.
#[test]
#[ignore = "needs GPU"]
fn pipeline_throughput_beside_the_128_thread_tile() {
    use flashmoe::driver::Event;
    let cluster = Cluster::first(1).expect("a GPU");
    let gpu = &cluster.gpus()[0];
    if gpu.arch() != Arch::Sm90a {
        return;
    }
    let ctx = gpu.context();
    let (m, n, k) = (8192usize, 2048usize, 2048usize);
    let (m_tiles, n_tiles) = (m / 128, n / 128);
    let da = DeviceBuffer::alloc(ctx, m * k * 2).unwrap();
    let db = DeviceBuffer::alloc(ctx, n * k * 2).unwrap();
    da.fill(0, m * k * 2, 0x3c).unwrap();
    db.fill(0, n * k * 2, 0x3c).unwrap();
    let rows: Vec<u32> = (0..m as u32).collect();
    let drows = DeviceBuffer::alloc(ctx, m * 4).unwrap();
    drows.write(0, &rows).unwrap();
    let dout = DeviceBuffer::alloc(ctx, m * n * 2).unwrap();
    let progress = HostMapped::<u32>::alloc(ctx, 3 * 132).unwrap();
    let stream = Stream::new(ctx).unwrap();
    let ws = gpu.function_in(Arch::Sm90a, "ws_tile_gemm_bf16").unwrap();
    ws.set_max_dynamic_shared(flashmoe::layout::WS_SHARED_BYTES).unwrap();
    let plain = gpu.function_in(Arch::Sm90a, "gemm_tile_bf16").unwrap();
    plain.set_max_dynamic_shared(flashmoe::layout::SHARED_BYTES).unwrap();
    let flops = 2.0 * (m * n * k) as f64;
    let time = |what: &str, launch: &dyn Fn()| {
        for _ in 0..3 {
            launch();
        }
        let mut ms: Vec<f32> = (0..20)
            .map(|_| {
                let (a, b) = (Event::new(ctx).unwrap(), Event::new(ctx).unwrap());
                a.record(&stream).unwrap();
                launch();
                b.record(&stream).unwrap();
                a.elapsed_ms(&b).unwrap_or_else(|e| panic!("{what}: {e:?}"))
            })
            .collect();
        ms.sort_by(f32::total_cmp);
        ms[10]
    };
    let sms = 132u32;
    let ws_ms = time("pipeline, B by cp.async", &|| {
        let (mut pa, mut pr, mut lda, mut pb, mut ldb) = (da.ptr(), drows.ptr(), (k * 2) as u64, db.ptr(), (k * 2) as u64);
        let (mut kb, mut mt, mut nt, mut po, mut lo, mut pp) =
            ((k * 2) as u32, m_tiles as u32, n_tiles as u32, dout.ptr(), (n * 2) as u64, progress.device_ptr());
        let mut args: Vec<*mut c_void> = vec![
            &mut pa as *mut u64 as *mut c_void,
            &mut pr as *mut u64 as *mut c_void,
            &mut lda as *mut u64 as *mut c_void,
            &mut pb as *mut u64 as *mut c_void,
            &mut ldb as *mut u64 as *mut c_void,
            &mut kb as *mut u32 as *mut c_void,
            &mut mt as *mut u32 as *mut c_void,
            &mut nt as *mut u32 as *mut c_void,
            &mut po as *mut u64 as *mut c_void,
            &mut lo as *mut u64 as *mut c_void,
            &mut pp as *mut u64 as *mut c_void,
        ];
        let cfg = LaunchConfig { grid: sms, block: 384, shared_bytes: flashmoe::layout::WS_SHARED_BYTES };
        // SAFETY: arguments match ws_tile_gemm_bf16; buffers outlive the timing.
        unsafe { ws.launch(&stream, cfg, &mut args, false).unwrap() };
    });
    let ws_tma = gpu.function_in(Arch::Sm90a, "ws_tile_gemm_bf16_tma").unwrap();
    ws_tma.set_max_dynamic_shared(flashmoe::layout::WS_SHARED_BYTES).unwrap();
    let map = TensorMap::bf16_2d(ctx, db.ptr(), n as u64, k as u64, (k * 2) as u64, flashmoe::layout::WEIGHT_BOX_ROWS, flashmoe::layout::WEIGHT_BOX_COLS).unwrap();
    let ws_tma_ms = time("pipeline, B by TMA", &|| {
        let (mut pa, mut pr, mut lda, mut pm) = (da.ptr(), drows.ptr(), (k * 2) as u64, map.device_ptr());
        let (mut kb, mut mt, mut nt, mut po, mut lo, mut pp) =
            ((k * 2) as u32, m_tiles as u32, n_tiles as u32, dout.ptr(), (n * 2) as u64, progress.device_ptr());
        let mut args: Vec<*mut c_void> = vec![
            &mut pa as *mut u64 as *mut c_void,
            &mut pr as *mut u64 as *mut c_void,
            &mut lda as *mut u64 as *mut c_void,
            &mut pm as *mut u64 as *mut c_void,
            &mut kb as *mut u32 as *mut c_void,
            &mut mt as *mut u32 as *mut c_void,
            &mut nt as *mut u32 as *mut c_void,
            &mut po as *mut u64 as *mut c_void,
            &mut lo as *mut u64 as *mut c_void,
            &mut pp as *mut u64 as *mut c_void,
        ];
        let cfg = LaunchConfig { grid: sms, block: 384, shared_bytes: flashmoe::layout::WS_SHARED_BYTES };
        // SAFETY: arguments match ws_tile_gemm_bf16_tma; buffers and the map outlive the timing.
        unsafe { ws_tma.launch(&stream, cfg, &mut args, false).unwrap() };
    });
    // One launch per 128x128 tile; the tile kernel takes its tile's A rows and B rows by offset.
    let plain_ms = time("128-thread tile", &|| {
        let mut tile = flashmoe::layout::GemmTileArgs {
            a: da.ptr(),
            rows: drows.ptr(),
            b: db.ptr(),
            out: dout.ptr(),
            lda: (k * 2) as u64,
            ldb: (k * 2) as u64,
            ldo: (n * 2) as u64,
            n_rows: 128,
            n_cols: 128,
            k_bytes: (k * 2) as u32,
            _pad: 0,
        };
        let mut args: Vec<*mut c_void> = vec![&mut tile as *mut flashmoe::layout::GemmTileArgs as *mut c_void];
        // The same tile computed by as many blocks as the GEMM has tiles: the per-SM tile rate of
        // the 128-thread engine (every block reads the same operands, so this is its best case).
        let cfg = LaunchConfig { grid: (m_tiles * n_tiles) as u32, block: 128, shared_bytes: flashmoe::layout::SHARED_BYTES };
        // SAFETY: gemm_tile_bf16 takes one GemmTileArgs by value; buffers outlive the timing.
        unsafe { plain.launch(&stream, cfg, &mut args, false).unwrap() };
    });
    println!(
        "M={m} N={n} K={k} bf16: warp-specialized pipeline {ws_ms:.3} ms = {:.0} TFLOP/s; with B by TMA {ws_tma_ms:.3} ms = {:.0} TFLOP/s; 128-thread wgmma tile x {} blocks {plain_ms:.3} ms = {:.0} TFLOP/s",
        flops / ws_ms as f64 / 1e9,
        flops / ws_tma_ms as f64 / 1e9,
        m_tiles * n_tiles,
        flops / plain_ms as f64 / 1e9
    );
}

/// The 128x256 tile (`ws256_tile_gemm_bf16`: B by TMA, A by cp.async from gathered rows or by
/// TMA) against the CPU, from one block and one tile up.
#[test]
#[ignore = "needs GPU"]
fn the_128x256_tile_matches_the_cpu() {
    for a_tma in [false, true] {
        for (blocks, m_tiles, n_tiles, k) in [(1, 1, 1, 64), (1, 1, 1, 2048), (1, 2, 1, 2048), (4, 3, 2, 2048), (2, 3, 3, 1024)] {
            println!("case: {blocks} blocks, {m_tiles} x {n_tiles} tiles of 128x256, K = {k}, A by {}", if a_tma { "TMA" } else { "cp.async" });
            let cluster = Cluster::first(1).expect("a GPU");
            let gpu = &cluster.gpus()[0];
            if gpu.arch() != Arch::Sm90a {
                return;
            }
            let ctx = gpu.context();
            let a_total = if a_tma { m_tiles * 128 } else { 500 };
            let mut rng = SplitMix64::new(7);
            let mut small = |n: usize| (0..n).map(|_| rng.next_mantissa().rem_euclid(7) as f64 - 3.0).collect::<Vec<f64>>();
            let (a, b) = (small(a_total * k), small(n_tiles * 256 * k));
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
            let (a_map, b_map) = maps_256(ctx, &da, a_total, &db, n_tiles * 256, k);
            launch_256(gpu, &stream, blocks, &da, &drows, k, if a_tma { a_map.device_ptr() } else { 0 }, &b_map, m_tiles, n_tiles, &dout, ldo);
            stream.synchronize().unwrap();
            let mut raw = vec![0u8; m_tiles * 128 * ldo];
            dout.read(0, &mut raw).unwrap();
            let got = decode(DType::Bf16, &raw);
            for (r, &src) in rows.iter().enumerate() {
                for c in 0..n_tiles * 256 {
                    let want: f64 = (0..k).map(|i| a[src as usize * k + i] * b[c * k + i]).sum();
                    let g = got[r * n_tiles * 256 + c];
                    assert!((g - want).abs() <= want.abs() / 256.0, "({r}, {c}) = {g}, want {want}");
                }
            }
        }
    }
}

/// TMA maps of A (`a_rows` rows, boxes of 128) and B (`b_rows` rows, boxes of 256), K = `k` bf16.
fn maps_256(ctx: &std::sync::Arc<flashmoe::driver::Context>, a: &DeviceBuffer, a_rows: usize, b: &DeviceBuffer, b_rows: usize, k: usize) -> (TensorMap, TensorMap) {
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
    m_tiles: usize,
    n_tiles: usize,
    out: &DeviceBuffer,
    ldo: usize,
) {
    let f = gpu.function_in(Arch::Sm90a, "ws256_tile_gemm_bf16").unwrap();
    f.set_max_dynamic_shared(flashmoe::layout::ws256::SHARED_BYTES).unwrap();
    let (mut pa, mut pr, mut lda, mut am, mut bm) = (a.ptr(), rows.ptr(), (k * 2) as u64, a_map, b_map.device_ptr());
    let (mut kb, mut mt, mut nt, mut po, mut lo) = ((k * 2) as u32, m_tiles as u32, n_tiles as u32, out.ptr(), ldo as u64);
    let mut args: Vec<*mut c_void> = vec![
        &mut pa as *mut u64 as *mut c_void,
        &mut pr as *mut u64 as *mut c_void,
        &mut lda as *mut u64 as *mut c_void,
        &mut am as *mut u64 as *mut c_void,
        &mut bm as *mut u64 as *mut c_void,
        &mut kb as *mut u32 as *mut c_void,
        &mut mt as *mut u32 as *mut c_void,
        &mut nt as *mut u32 as *mut c_void,
        &mut po as *mut u64 as *mut c_void,
        &mut lo as *mut u64 as *mut c_void,
    ];
    let cfg = LaunchConfig { grid: blocks, block: 384, shared_bytes: flashmoe::layout::ws256::SHARED_BYTES };
    // SAFETY: the arguments match ws256_tile_gemm_bf16; the caller keeps the buffers and maps
    // alive until the stream is synchronised.
    unsafe { f.launch(stream, cfg, &mut args, false).unwrap() };
}

/// Throughput of the 128x256 tile (M = 8192 gathered or TMA rows, N = K = 2048, one block per
/// SM), CUDA events, median of 20 after warm-up; asserts nothing timed.
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
    let (m, n, k) = (8192usize, 2048usize, 2048usize);
    let da = DeviceBuffer::alloc(ctx, m * k * 2).unwrap();
    let db = DeviceBuffer::alloc(ctx, n * k * 2).unwrap();
    da.fill(0, m * k * 2, 0x3c).unwrap();
    db.fill(0, n * k * 2, 0x3c).unwrap();
    let rows: Vec<u32> = (0..m as u32).collect();
    let drows = DeviceBuffer::alloc(ctx, m * 4).unwrap();
    drows.write(0, &rows).unwrap();
    let dout = DeviceBuffer::alloc(ctx, m * n * 2).unwrap();
    let stream = Stream::new(ctx).unwrap();
    let (a_map, b_map) = maps_256(ctx, &da, m, &db, n, k);
    let flops = 2.0 * (m * n * k) as f64;
    for a_tma in [false, true] {
        let launch = || launch_256(gpu, &stream, 132, &da, &drows, k, if a_tma { a_map.device_ptr() } else { 0 }, &b_map, m / 128, n / 256, &dout, n * 2);
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
            "M={m} N={n} K={k} bf16, 128x256 tiles, B by TMA, A by {}: {:.3} ms = {:.0} TFLOP/s",
            if a_tma { "TMA" } else { "cp.async (gathered)" },
            ms[10],
            flops / ms[10] as f64 / 1e9
        );
    }
}
