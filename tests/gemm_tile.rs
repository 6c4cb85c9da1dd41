//! Each MMA path of the tile GEMM (wgmma, mma.sync, tf32) against the CPU, one tile at a time,
//! on odd shapes and gathered rows: `gpu-kernels/src/tile_test.rs`.

use std::ffi::c_void;

use flashmoe::driver::{DeviceBuffer, LaunchConfig, Stream};
use flashmoe::layout::GemmTileArgs;
use flashmoe::numeric::{SplitMix64, decode, encode};
use flashmoe::{Arch, Cluster, DType};

struct Case {
    /// Gathered A rows (indices into 300 rows), as a merged tile of a MoE task would read them.
    rows: Vec<u32>,
    n_cols: usize,
    k: usize,
}

/// Small integers: every product and sum is exact in f32 and in tf32 / bf16 operands, so the only
/// rounding is bf16's output rounding.
fn values(rng: &mut SplitMix64, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.next_mantissa().rem_euclid(7) as f64 - 3.0).collect()
}

fn run(kernel: &str, arch: Arch, dtype: DType, case: &Case, seed: u64) {
    let cluster = Cluster::first(1).expect("a GPU");
    let gpu = &cluster.gpus()[0];
    let ctx = gpu.context();
    let (a_rows_total, n_rows, n_cols, k) = (300usize, case.rows.len(), case.n_cols, case.k);
    let mut rng = SplitMix64::new(seed);
    let (a, b) = (values(&mut rng, a_rows_total * k), values(&mut rng, n_cols.max(128) * k));
    let el = dtype.bytes() as usize;
    let ldo = 128 * el;
    let (da, db, drows, dout) = (
        DeviceBuffer::alloc(ctx, a.len() * el).unwrap(),
        DeviceBuffer::alloc(ctx, b.len() * el).unwrap(),
        DeviceBuffer::alloc(ctx, 4 * n_rows.max(1)).unwrap(),
        DeviceBuffer::alloc(ctx, n_rows * ldo).unwrap(),
    );
    da.write(0, &encode(dtype, &a)).unwrap();
    db.write(0, &encode(dtype, &b)).unwrap();
    drows.write(0, &case.rows).unwrap();
    dout.fill(0, n_rows * ldo, 0xff).unwrap(); // NaN poison
    let f = gpu.function_in(arch, kernel).unwrap();
    f.set_max_dynamic_shared(flashmoe::layout::SHARED_BYTES).unwrap();
    let stream = Stream::new(ctx).unwrap();
    let mut tile = GemmTileArgs {
        a: da.ptr(),
        rows: drows.ptr(),
        b: db.ptr(),
        out: dout.ptr(),
        lda: (k * el) as u64,
        ldb: (k * el) as u64,
        ldo: ldo as u64,
        n_rows: n_rows as u32,
        n_cols: n_cols as u32,
        k_bytes: (k * el) as u32,
        _pad: 0,
    };
    let mut args: Vec<*mut c_void> = vec![&mut tile as *mut GemmTileArgs as *mut c_void];
    let cfg = LaunchConfig { grid: 1, block: 128, shared_bytes: flashmoe::layout::SHARED_BYTES };
    // SAFETY: the tile kernels take one GemmTileArgs by value; buffers outlive the synchronisation.
    unsafe { f.launch(&stream, cfg, &mut args, false).unwrap() };
    stream.synchronize().unwrap();
    let mut raw = vec![0u8; n_rows * ldo];
    dout.read(0, &mut raw).unwrap();
    let got = decode(dtype, &raw);
    let mut worst = 0.0f64;
    for (r, &src) in case.rows.iter().enumerate() {
        for c in 0..n_cols {
            let want: f64 = (0..k).map(|i| a[src as usize * k + i] * b[c * k + i]).sum();
            let g = got[r * 128 + c];
            assert!(g.is_finite(), "{kernel} ({}): element ({r}, {c}) not written", arch.name());
            // bf16 output: 8 significant bits; f32: exact.
            let tol = if dtype == DType::F32 { 0.0 } else { want.abs() / 256.0 };
            worst = worst.max((g - want).abs());
            assert!((g - want).abs() <= tol, "{kernel} ({}): ({r}, {c}) = {g}, want {want}", arch.name());
        }
    }
    println!("{kernel} ({}): {n_rows} gathered rows x {n_cols} columns x K {k}: largest difference {worst}", arch.name());
}

fn cases() -> Vec<Case> {
    let mut rng = SplitMix64::new(9);
    let mut gathered = |n: usize| (0..n).map(|_| rng.next_mantissa().rem_euclid(300) as u32).collect::<Vec<u32>>();
    vec![
        Case { rows: (0..128).collect(), n_cols: 128, k: 128 },
        Case { rows: gathered(77), n_cols: 96, k: 320 },
        Case { rows: gathered(1), n_cols: 64, k: 64 },
        Case { rows: gathered(64), n_cols: 128, k: 2048 },
        Case { rows: gathered(65), n_cols: 8, k: 192 },
    ]
}

#[test]
#[ignore = "needs GPU"]
fn every_mma_path_matches_the_cpu_on_odd_and_gathered_tiles() {
    let arch = Cluster::first(1).expect("a GPU").gpus()[0].arch();
    let mut kernels = vec![(Arch::Sm80, "gemm_tile_bf16", DType::Bf16), (Arch::Sm80, "gemm_tile_f32", DType::F32)];
    if arch == Arch::Sm90a {
        kernels.extend([
            (Arch::Sm90a, "gemm_tile_bf16", DType::Bf16),
            (Arch::Sm90a, "gemm_tile_bf16_mma_sync", DType::Bf16),
            (Arch::Sm90a, "gemm_tile_f32", DType::F32),
        ]);
    }
    for (arch, kernel, dtype) in kernels {
        for (i, case) in cases().iter().enumerate() {
            // f32 K is counted in elements here; the kernel needs K·4 bytes a multiple of 128.
            if dtype == DType::F32 && case.k % 32 != 0 {
                continue;
            }
            run(kernel, arch, dtype, case, i as u64);
        }
    }
}
