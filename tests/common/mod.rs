//! Shared checks of GPU forwards against the f64 reference.

#![allow(dead_code)]

use flashmoe::numeric::{NAN_BYTE, SplitMix64, exact_values};
use flashmoe::verify::{self, Verification};
use flashmoe::{Arch, Cluster, MoeConfig, MoeLayer, Tuning, Weights};

/// The tuning every GPU test builds with: FLASHMOE_TEST_ARCH=sm_80 runs the whole matrix on the
/// Ampere PTX build (an H200 JIT-compiles it), otherwise the device's best build;
/// FLASHMOE_TEST_STATIC_PLAN=0 keeps decode forwards off the static plan (the OS plan's tests);
/// FLASHMOE_TEST_COPY_LOCAL=1 (0) always (never) copies this GPU's own rows in the dispatch
/// (`Tuning::copy_local`); FLASHMOE_TEST_STREAM_ROWS=1 (0) always (never) streams them on the
/// warp-specialized engine (`Tuning::stream_rows`); FLASHMOE_TEST_LEAN=1 (0) takes the lean decode
/// kernel wherever it can run (never: the static and OS plans' decode tests).
pub fn tuning() -> Tuning {
    let arch = match std::env::var("FLASHMOE_TEST_ARCH").as_deref() {
        Ok("sm_80") => Some(Arch::Sm80),
        Ok("sm_90a") => Some(Arch::Sm90a),
        Ok(other) if !other.is_empty() => panic!("FLASHMOE_TEST_ARCH={other}: expected sm_80 or sm_90a"),
        _ => None,
    };
    let static_plan = match std::env::var("FLASHMOE_TEST_STATIC_PLAN").as_deref() {
        Ok("0") => Some(false),
        Ok("1") | Err(_) => None,
        Ok(other) => panic!("FLASHMOE_TEST_STATIC_PLAN={other}: expected 0 or 1"),
    };
    let (copy_local, stream_rows, lean, lean_dense, lean_sweep) = (
        env_switch("FLASHMOE_TEST_COPY_LOCAL"),
        env_switch("FLASHMOE_TEST_STREAM_ROWS"),
        env_switch("FLASHMOE_TEST_LEAN"),
        env_switch("FLASHMOE_TEST_LEAN_DENSE"),
        env_switch("FLASHMOE_TEST_LEAN_SWEEP"),
    );
    Tuning { arch, static_plan, copy_local, stream_rows, lean, lean_dense, lean_sweep, ..Tuning::default() }
}

/// An on/off override from the environment: 1 (`Some(true)`), 0 (`Some(false)`), unset (`None`).
fn env_switch(name: &str) -> Option<bool> {
    match std::env::var(name).as_deref() {
        Ok("1") => Some(true),
        Ok("0") => Some(false),
        Err(_) => None,
        Ok(other) => panic!("{name}={other}: expected 0 or 1"),
    }
}

/// The tests' [`tuning`] for `cfg`: FLASHMOE_TEST_MAINLOOP=ws runs the layers the warp-specialized
/// engine implements on it (16-bit ones without a shared expert; the builder refuses the others
/// with `ConfigError::NotInKernel`, tests/ws_forward.rs); the rest keep the default engine.
pub fn tuning_for(cfg: &MoeConfig) -> Tuning {
    let mut tuning = tuning();
    match std::env::var("FLASHMOE_TEST_MAINLOOP").as_deref() {
        Ok("ws") if cfg.dtype != flashmoe::DType::F32 && cfg.shared.is_none() => tuning.mainloop = flashmoe::Mainloop::WarpSpecialized,
        Ok("ws") | Err(_) => {}
        Ok(other) => panic!("FLASHMOE_TEST_MAINLOOP={other}: expected ws"),
    }
    tuning
}

/// A layer for `cfg` with [`tuning_for`] it.
pub fn layer<'c>(cluster: &'c Cluster, cfg: &MoeConfig) -> flashmoe::Result<MoeLayer<'c>> {
    MoeLayer::builder(cluster, cfg.clone()).tuning(tuning_for(cfg)).build()
}

/// How to build the inputs of a case.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Inputs {
    Random,
    /// Every token's top choice is `expert` (gate row boosted on a shared input feature).
    AllTo(u32),
    /// Tokens of GPU r prefer expert `r · E/G + offset`: experts on their own GPU, so no GPU sends
    /// rows to a peer for its top choice (k = 1: nothing at all).
    Local(u32),
}

pub fn weights_and_inputs(cfg: &MoeConfig, world: usize, seed: u64, inputs: Inputs) -> (Weights, Vec<f64>) {
    let mut w = Weights::random(cfg, seed);
    let mut rng = SplitMix64::new(seed ^ 0xabcdef);
    let mut x = exact_values(&mut rng, world * cfg.tokens * cfg.hidden, 6);
    let h = cfg.hidden;
    match inputs {
        Inputs::Random => {}
        Inputs::AllTo(e) => {
            for t in 0..world * cfg.tokens {
                x[t * h] = 1.0;
            }
            for ex in 0..cfg.experts {
                w.gate[ex * h] = if ex as u32 == e { 16.0 } else { 0.0 };
            }
        }
        Inputs::Local(offset) => {
            // Feature r (< world) is 1 for GPU r's tokens; expert r·E/G + offset has weight 16 on it.
            let per_gpu = cfg.experts / world;
            for t in 0..world * cfg.tokens {
                for r in 0..world {
                    x[t * h + r] = if t / cfg.tokens == r { 1.0 } else { 0.0 };
                }
            }
            for ex in 0..cfg.experts {
                for r in 0..world {
                    w.gate[ex * h + r] = if ex == r * per_gpu + offset as usize { 16.0 } else { 0.0 };
                }
            }
        }
    }
    (w, x)
}

/// Every GPU's inputs as f32, from the inputs of all GPUs in order.
pub fn per_gpu(cfg: &MoeConfig, x: &[f64]) -> Vec<Vec<f32>> {
    x.chunks(cfg.tokens * cfg.hidden).map(|s| s.iter().map(|&v| v as f32).collect()).collect()
}

/// Runs `cfg` on `cluster` twice (outputs poisoned with NaN before each launch), checks the first
/// against the f64 reference and the second for bitwise equality. Panics on any failure.
pub fn check(cluster: &Cluster, cfg: &MoeConfig, seed: u64, inputs: Inputs) -> Verification {
    check_tuned(cluster, cfg, &tuning_for(cfg), seed, inputs)
}

/// [`check`] with a layer built with `tuning`.
pub fn check_tuned(cluster: &Cluster, cfg: &MoeConfig, tuning: &Tuning, seed: u64, inputs: Inputs) -> Verification {
    let world = cluster.len();
    let (w, x) = weights_and_inputs(cfg, world, seed, inputs);
    let mut layer = MoeLayer::builder(cluster, cfg.clone()).tuning(tuning.clone()).build().unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
    layer.load_weights(&w).unwrap();
    let xs = per_gpu(cfg, &x);
    let slices: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
    let io_bytes = cfg.tokens * cfg.hidden * cfg.dtype.bytes() as usize;
    let run = |layer: &mut MoeLayer| -> Vec<Vec<f32>> {
        for r in 0..world {
            layer.output_buffer(r).unwrap().fill(0, io_bytes, NAN_BYTE).unwrap();
        }
        layer.forward(&slices).unwrap_or_else(|e| panic!("{cfg:?}: forward failed: {e}"))
    };
    let out = run(&mut layer);
    let v = verify::check(&layer, &w, &x, &out, cfg.tokens, Some(256), seed ^ 0x5eed).unwrap();
    let again = run(&mut layer);
    let bitwise = out.iter().zip(&again).all(|(a, b)| a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()));
    println!(
        "{} {:?} E={} k={} T={} H={} I={} gated={} bias={} act={:?} router={:?} renorm={} cf={:?} gpus={world} inputs={inputs:?}: rel_err {:.3e} over {} tokens, near-tie reroutes {}, dropped {}, bitwise repeat {bitwise}",
        layer.kernel(0).map_or("?", |e| e.arch.name()),
        cfg.dtype,
        cfg.experts,
        cfg.top_k,
        cfg.tokens,
        cfg.hidden,
        cfg.inter,
        cfg.gated,
        cfg.bias,
        cfg.activation,
        cfg.router,
        cfg.renormalize,
        cfg.capacity_factor,
        v.rel_err,
        v.tokens_checked,
        v.near_tie_mismatches,
        v.dropped
    );
    assert!(v.passed(cfg.dtype), "{cfg:?}: {v:?}");
    assert!(bitwise, "{cfg:?}: two runs differ");
    v
}

/// A watchdog for a launch that may hang: unless [`Watchdog::disarm`] comes first, after `limit`
/// it runs `report` (which reads host-mapped progress written by the kernel) and exits the
/// process, since a hung kernel cannot be stopped from the host.
pub struct Watchdog {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Watchdog {
    pub fn arm(limit: std::time::Duration, report: impl FnOnce() + Send + 'static) -> Watchdog {
        use std::sync::atomic::Ordering;
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = done.clone();
        let thread = std::thread::spawn(move || {
            let start = std::time::Instant::now();
            while !seen.load(Ordering::Acquire) {
                if start.elapsed() > limit {
                    report();
                    std::process::exit(1);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
        Watchdog { done, thread }
    }

    /// The launch finished (or failed): stop watching.
    pub fn disarm(self) {
        self.done.store(true, std::sync::atomic::Ordering::Release);
        self.thread.join().unwrap();
    }
}
