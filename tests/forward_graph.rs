//! CUDA-graph replay of a forward (`MoeLayer::capture` / `replay`) against the f64 reference and
//! against plain `forward_device` calls on the same inputs; replays across arena growth, new
//! weights, layers sharing a scratch and the epoch wrap; the typed errors and bounded waits of a
//! replay; several GPUs; and the host-inclusive time per forward of the tiny decode layer
//! (plain, graph-replayed, and the floors under them), printed.

mod common;

use std::ffi::c_void;
use std::time::{Duration, Instant};

use flashmoe::driver::{DeviceBuffer, KernelGraph, LaunchConfig, Stream};
use flashmoe::numeric::{self, NAN_BYTE, SplitMix64, exact_values};
use flashmoe::{Cluster, DType, Error, Fault, MoeConfig, MoeLayer, Scratch, Wait, Weights, verify};

fn gpu() -> Cluster {
    Cluster::first(1).expect("a GPU")
}

/// The tiny decode layer of issue 11 (H = I = 256, E = 8, k = 2, bf16), for up to `tokens`.
fn tiny(tokens: usize) -> MoeConfig {
    MoeConfig { tokens, hidden: 256, inter: 256, experts: 8, top_k: 2, dtype: DType::Bf16, ..MoeConfig::default() }
}

fn layer<'c>(c: &'c Cluster, cfg: &MoeConfig, w: &Weights, scratch: Option<&Scratch>) -> MoeLayer<'c> {
    let b = MoeLayer::builder(c, cfg.clone()).tuning(common::tuning_for(cfg));
    let mut l = match scratch {
        Some(s) => b.scratch(s),
        None => b,
    }
    .build()
    .unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
    l.load_weights(w).unwrap();
    l
}

/// Writes fresh inputs of `t` tokens (drawn from `seed`) into every GPU's input buffer; returns
/// them, GPU after GPU, as the reference reads them.
fn write_inputs(layer: &MoeLayer, t: usize, seed: u64) -> Vec<f64> {
    let cfg = layer.config();
    let mut all = Vec::new();
    for r in 0..layer.cluster().len() {
        let mut rng = SplitMix64::new(seed ^ ((r as u64 + 1) << 40));
        let x = exact_values(&mut rng, t * cfg.hidden, 6);
        layer.input_buffer(r).unwrap().write(0, &numeric::encode(cfg.dtype, &x)).unwrap();
        all.extend(x);
    }
    all
}

/// Fills every output buffer with NaN: a forward must overwrite every element it owns.
fn poison(layer: &MoeLayer) {
    for r in 0..layer.cluster().len() {
        let out = layer.output_buffer(r).unwrap();
        out.fill(0, out.bytes(), NAN_BYTE).unwrap();
    }
}

/// The first `t` tokens of every GPU's output buffer.
fn outputs(layer: &MoeLayer, t: usize) -> Vec<Vec<f32>> {
    let cfg = layer.config();
    (0..layer.cluster().len())
        .map(|r| {
            let mut bytes = vec![0u8; t * cfg.hidden * cfg.dtype.bytes() as usize];
            layer.output_buffer(r).unwrap().read(0, &mut bytes).unwrap();
            numeric::decode(cfg.dtype, &bytes).into_iter().map(|v| v as f32).collect()
        })
        .collect()
}

fn bitwise(a: &[Vec<f32>], b: &[Vec<f32>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(p, q)| p.len() == q.len() && p.iter().zip(q).all(|(x, y)| x.to_bits() == y.to_bits()))
}

/// `replays` replays of a graph of `t` tokens on `c`, new inputs before each; every `every`-th
/// and the last are checked against the f64 reference (outputs poisoned first) and then against
/// a plain `forward_device` of the same inputs, bitwise. Returns (checked, worst rel err).
fn replay_and_check(c: &Cluster, cfg: &MoeConfig, t: usize, replays: usize, every: usize, seed: u64) -> (usize, f64) {
    let w = Weights::random(cfg, seed);
    let mut layer = layer(c, cfg, &w, None);
    let mut graph = layer.capture(t).unwrap();
    assert_eq!(graph.tokens(), t);
    let (mut checked, mut worst) = (0, 0.0f64);
    for i in 0..replays {
        let x = write_inputs(&layer, t, seed * 1_000_003 + i as u64);
        let sampled = i % every == 0 || i + 1 == replays;
        if sampled {
            poison(&layer);
        }
        layer.replay(&mut graph).unwrap_or_else(|e| panic!("replay {i}: {e}"));
        if !sampled {
            continue;
        }
        let replayed = outputs(&layer, t);
        let v = verify::check(&layer, &w, &x, &replayed, t, None, i as u64).unwrap();
        assert!(v.passed(cfg.dtype), "replay {i}: {v:?}");
        worst = worst.max(v.rel_err);
        poison(&layer);
        layer.forward_device(t).unwrap();
        assert!(bitwise(&replayed, &outputs(&layer, t)), "replay {i} differs from forward_device on the same input");
        checked += 1;
    }
    (checked, worst)
}

#[test]
#[ignore = "needs GPU"]
fn a_thousand_replays_match_the_reference_and_plain_forwards() {
    let c = gpu();
    for (t, max) in [(1, 1), (5, 64)] {
        let (checked, worst) = replay_and_check(&c, &tiny(max), t, 1000, 100, 7 + t as u64);
        println!(
            "graph replay: 1000 replays of T={t} (layer max T {max}, H=I=256 E=8 k=2 bf16) with new inputs each; {checked} checked against the f64 reference (worst rel err {worst:.3e}) and bitwise equal to forward_device"
        );
        assert_eq!(checked, 11);
    }
}

/// The graph keeps no pointer and no epoch: it follows the arena when another layer grows it,
/// new weights, the other layers' graphs and forwards on the shared scratch, and the wrap.
#[test]
#[ignore = "needs GPU"]
fn replays_follow_arena_growth_new_weights_shared_scratch_and_the_epoch_wrap() {
    let c = gpu();
    let shared = Scratch::new(&c).unwrap();
    let (ca, cb) = (tiny(16), MoeConfig { tokens: 512, hidden: 512, inter: 768, experts: 16, ..tiny(512) });
    let (wa, wb) = (Weights::random(&ca, 21), Weights::random(&cb, 22));
    let (ta, tb) = (7, 300);
    let mut a = layer(&c, &ca, &wa, Some(&shared));
    let mut ga = a.capture(ta).unwrap();
    let xa = write_inputs(&a, ta, 1);
    a.forward_device(ta).unwrap();
    let expect_a = outputs(&a, ta);
    assert!(verify::check(&a, &wa, &xa, &expect_a, ta, None, 1).unwrap().passed(ca.dtype));

    // A larger layer on the same scratch reallocates its buffers (heap, workspace, I/O).
    let before = shared.bytes_per_gpu();
    let mut b = layer(&c, &cb, &wb, Some(&shared));
    assert!(shared.bytes_per_gpu() > before, "the arena was meant to grow");
    let mut gb = b.capture(tb).unwrap();
    let xb = write_inputs(&b, tb, 2);
    b.forward_device(tb).unwrap();
    let expect_b = outputs(&b, tb);
    assert!(verify::check(&b, &wb, &xb, &expect_b, tb, Some(64), 2).unwrap().passed(cb.dtype));

    // Interleaved: graphs and plain forwards of both layers, inputs rewritten for each (the
    // input buffer is shared).
    for i in 0..40 {
        let (l, g, t, seed, expect) = if i % 2 == 0 { (&mut a, &mut ga, ta, 1, &expect_a) } else { (&mut b, &mut gb, tb, 2, &expect_b) };
        write_inputs(l, t, seed);
        poison(l);
        let ran = if i % 4 < 2 { l.replay(g) } else { l.forward_device(t) };
        ran.unwrap_or_else(|e| panic!("step {i}: {e}"));
        assert!(bitwise(&outputs(l, t), expect), "step {i} (layer {}) differs", if i % 2 == 0 { "a" } else { "b" });
    }

    // New weights after the capture: the replay uses them.
    let wa2 = Weights::random(&ca, 23);
    a.load_weights(&wa2).unwrap();
    let xa = write_inputs(&a, ta, 1);
    a.replay(&mut ga).unwrap();
    let new_a = outputs(&a, ta);
    assert!(verify::check(&a, &wa2, &xa, &new_a, ta, None, 3).unwrap().passed(ca.dtype));
    assert!(!bitwise(&new_a, &expect_a), "the replay still ran the old weights");
    a.forward_device(ta).unwrap();
    assert!(bitwise(&outputs(&a, ta), &new_a));

    // Across the 32-bit epoch wrap, replays and plain forwards alternating.
    shared.set_epoch_for_test(u32::MAX - 3).unwrap();
    for i in 0..10 {
        poison(&a);
        let ran = if i % 2 == 0 { a.replay(&mut ga) } else { a.forward_device(ta) };
        ran.unwrap_or_else(|e| panic!("{i} across the wrap: {e}"));
        assert!(bitwise(&outputs(&a, ta), &new_a), "forward {i} across the epoch wrap differs");
    }

    // A graph replays only its own layer, also across arenas.
    assert!(matches!(b.replay(&mut ga), Err(Error::ForeignGraph)));
    let mut alone = layer(&c, &ca, &wa, None);
    assert!(matches!(alone.replay(&mut ga), Err(Error::ForeignGraph)));
    assert!(matches!(alone.launch_graph(&mut gb), Err(Error::ForeignGraph)));
    println!(
        "graph replay: follows arena growth, new weights, a second layer's graphs and forwards, the epoch wrap; foreign graphs refused"
    );
}

#[test]
#[ignore = "needs GPU"]
fn replays_keep_typed_errors_bounded_waits_and_busy() {
    let c = gpu();
    let cfg = tiny(64);
    let w = Weights::random(&cfg, 31);
    let t = 64;

    let mut bare = MoeLayer::builder(&c, cfg.clone()).tuning(common::tuning_for(&cfg)).build().unwrap();
    assert!(matches!(bare.capture(t), Err(Error::Weights(_))), "capture before load_weights");
    bare.load_weights(&w).unwrap();
    assert!(matches!(bare.capture(0), Err(Error::Config(_))));
    assert!(matches!(bare.capture(65), Err(Error::Config(_))));
    drop(bare);

    let mut layer = layer(&c, &cfg, &w, None);
    let mut g = layer.capture(t).unwrap();
    let x = write_inputs(&layer, t, 5);
    layer.replay(&mut g).unwrap();
    let good = outputs(&layer, t);
    assert!(verify::check(&layer, &w, &x, &good, t, None, 5).unwrap().passed(cfg.dtype));

    // In flight: everything that would touch the kernel's memory is Busy until wait().
    layer.launch_graph(&mut g).unwrap();
    assert!(matches!(layer.replay(&mut g), Err(Error::Busy(_))));
    assert!(matches!(layer.forward_device(t), Err(Error::Busy(_))));
    assert!(matches!(layer.input_buffer(0), Err(Error::Busy(_))));
    assert!(matches!(layer.load_weights(&w), Err(Error::Busy(_))));
    layer.wait().unwrap();
    assert!(bitwise(&outputs(&layer, t), &good));

    // A lost flag: a typed timeout within the layer's bound, then the next replay is right.
    layer.set_timeout(Duration::from_millis(200));
    layer.inject_dropped_dispatch_flag(Some(3));
    let s = Instant::now();
    let err = layer.replay(&mut g).unwrap_err();
    println!("graph replay, lost flag: {err} after {:?}", s.elapsed());
    assert!(matches!(err, Error::Timeout { wait: Wait::DispatchFlag, expert: Some(3), gpu: 0, .. }), "{err}");
    assert!(s.elapsed() < Duration::from_secs(3), "{:?}", s.elapsed());
    layer.inject_dropped_dispatch_flag(None);
    poison(&layer);
    layer.replay(&mut g).unwrap();
    assert!(bitwise(&outputs(&layer, t), &good), "replay after the timeout differs");

    // A bad count is a fault, not an access; a launch failure aborts the started GPU at once.
    layer.inject_corrupt_dispatch_count(Some(5));
    let err = layer.replay(&mut g).unwrap_err();
    assert!(matches!(err, Error::Fault { fault: Fault::FlagCount, expert: Some(5), .. }), "{err}");
    layer.inject_corrupt_dispatch_count(None);
    layer.inject_dropped_dispatch_flag(Some(3));
    layer.inject_launch_failure(Some(0));
    let s = Instant::now();
    let err = layer.replay(&mut g).unwrap_err();
    assert!(matches!(err, Error::InjectedLaunchFailure { rank: 0 }), "{err}");
    assert!(s.elapsed() < Duration::from_secs(1), "the started graph was not aborted: {:?}", s.elapsed());
    layer.inject_dropped_dispatch_flag(None);
    layer.inject_launch_failure(None);
    layer.replay(&mut g).unwrap();
    assert!(bitwise(&outputs(&layer, t), &good), "replay after the failed launch differs");

    // NaN in the input buffer: the token is named.
    let h = cfg.hidden;
    let mut bad = numeric::decode(cfg.dtype, &numeric::encode(cfg.dtype, &x));
    bad[9 * h + 3] = f64::NAN;
    layer.input_buffer(0).unwrap().write(0, &numeric::encode(cfg.dtype, &bad)).unwrap();
    let err = layer.replay(&mut g).unwrap_err();
    assert!(matches!(err, Error::NonFiniteInput { gpu: 0, token: 9 }), "{err}");
    write_inputs(&layer, t, 5);
    layer.replay(&mut g).unwrap();
    assert!(bitwise(&outputs(&layer, t), &good));

    // Dropping the layer while its graph runs aborts and waits; the graph outlives it harmlessly.
    layer.launch_graph(&mut g).unwrap();
    drop(layer);
    drop(g);
    println!("graph replay: Busy in flight, typed timeout / fault / launch failure / NaN input, recovery bitwise, drop in flight");
}

#[test]
#[ignore = "needs GPU"]
fn replays_on_every_local_gpu() {
    let c = Cluster::all_local().expect("GPUs");
    if c.len() < 2 {
        println!("graph replay on several GPUs: skipped, this machine has {} GPU", c.len());
        return;
    }
    let cfg = MoeConfig { experts: 8 * c.len(), ..tiny(64) };
    let (checked, worst) = replay_and_check(&c, &cfg, 64, 200, 25, 41);
    let (checked1, worst1) = replay_and_check(&c, &MoeConfig { tokens: 1, ..cfg.clone() }, 1, 200, 25, 42);
    println!(
        "graph replay on {} GPUs: 200 replays of T=64 ({checked} checked, worst rel err {worst:.3e}) and of T=1 ({checked1} checked, {worst1:.3e}), bitwise equal to forward_device",
        c.len()
    );
}

/// Mean, median, 10th and 99th percentile of `us`.
fn stats(us: &[f64]) -> (f64, f64, f64, f64) {
    let mut s = us.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
    (s.iter().sum::<f64>() / s.len() as f64, at(0.5), at(0.1), at(0.99))
}

/// Runs `f` `warmup` times, then `n` times back to back; microseconds of each call.
fn time_us(warmup: usize, n: usize, mut f: impl FnMut()) -> Vec<f64> {
    for _ in 0..warmup {
        f();
    }
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        let s = Instant::now();
        f();
        us.push(s.elapsed().as_secs_f64() * 1e6);
    }
    us
}

fn line(what: &str, us: &[f64], target: Option<f64>) {
    let (mean, median, p10, p99) = stats(us);
    let verdict = target.map_or(String::new(), |t| format!("  target <= {t} us: {}", if mean <= t { "met" } else { "MISSED" }));
    println!("  {what:<44} mean {mean:7.2} us  median {median:7.2}  p10 {p10:7.2}  p99 {p99:7.2}  ({} calls){verdict}", us.len());
}

/// Host-inclusive microseconds per forward of the tiny decode layer (T = 1, H = I = 256, E = 8,
/// k = 2, bf16, one GPU), 20,000 back-to-back calls each: forward_device, graph replay, their
/// launch calls alone, the kernel by CUDA events, and the floors of the same launch shape (an
/// empty kernel, cooperative or not, plain or as a graph). Prints; asserts only correctness.
#[test]
#[ignore = "needs GPU"]
fn host_time_per_forward_tiny_layer() {
    const N: usize = 20_000;
    let c = gpu();
    let cfg = tiny(1);
    let w = Weights::random(&cfg, 51);
    let mut layer = layer(&c, &cfg, &w, None);
    write_inputs(&layer, 1, 52);
    let mut g = layer.capture(1).unwrap();
    let (entry, grid) = layer.kernel_for(0, 1).unwrap();
    let shape = LaunchConfig { grid, block: entry.threads, shared_bytes: entry.shared_bytes };
    println!(
        "host time per forward: T=1 H=I=256 E=8 k=2 bf16 on {} ({}), grid {} x {} threads, {} B shared; {N} back-to-back calls",
        c.gpus()[0].name,
        entry.name,
        shape.grid,
        shape.block,
        shape.shared_bytes
    );

    let plain = time_us(500, N, || layer.forward_device(1).unwrap());
    let plain_out = outputs(&layer, 1);
    let replay = time_us(500, N, || layer.replay(&mut g).unwrap());
    assert!(bitwise(&outputs(&layer, 1), &plain_out), "the replays' output differs from forward_device's");
    let launch = time_us(200, 5000, || {
        layer.launch(1).unwrap();
        // Not timed separately below: the wait is what is left of forward_device.
        let _ = layer.wait();
    });
    let mut launch_only = Vec::with_capacity(5000);
    let mut graph_launch_only = Vec::with_capacity(5000);
    for _ in 0..5000 {
        let s = Instant::now();
        layer.launch(1).unwrap();
        launch_only.push(s.elapsed().as_secs_f64() * 1e6);
        layer.wait().unwrap();
        let s = Instant::now();
        layer.launch_graph(&mut g).unwrap();
        graph_launch_only.push(s.elapsed().as_secs_f64() * 1e6);
        layer.wait().unwrap();
    }
    let kernel = flashmoe::timing::time_forward(&mut layer, 1, 200, 2000).unwrap();

    // The floors: an empty kernel (smoke_axpy with n = 0) with the layer's grid, block and
    // dynamic shared memory, launched and waited for by polling, as the layer does.
    let gpu = &c.gpus()[0];
    let ctx = gpu.context();
    let f = gpu.function("smoke_axpy").unwrap();
    f.set_max_dynamic_shared(shape.shared_bytes).unwrap();
    let fits = f.max_blocks_per_sm(shape.block, shape.shared_bytes).unwrap() * gpu.sms;
    assert!(fits >= shape.grid, "the empty kernel fits {fits} blocks, the layer's grid is {}", shape.grid);
    let stream = Stream::new(ctx).unwrap();
    let stamp = DeviceBuffer::alloc(ctx, 16).unwrap();
    let (mut a, mut p, mut n, mut ps) = (1.0f32, stamp.ptr(), 0u32, stamp.ptr());
    let (mut px, mut py) = (p, p);
    let mut args: Vec<*mut c_void> = vec![
        &mut a as *mut f32 as *mut c_void,
        &mut px as *mut u64 as *mut c_void,
        &mut py as *mut u64 as *mut c_void,
        &mut p as *mut u64 as *mut c_void,
        &mut n as *mut u32 as *mut c_void,
        &mut ps as *mut u64 as *mut c_void,
    ];
    let wait = |s: &Stream| while !s.query().unwrap() {};
    // SAFETY (all four): smoke_axpy's argument list; n = 0 touches only `stamp`, which outlives
    // every launch (each is waited for).
    let empty_coop = time_us(500, N, || {
        unsafe { f.launch(&stream, shape, &mut args, true).unwrap() };
        wait(&stream);
    });
    let empty_plain = time_us(500, N, || {
        unsafe { f.launch(&stream, shape, &mut args, false).unwrap() };
        wait(&stream);
    });
    let mut eg = unsafe { KernelGraph::new(&f, shape, &mut args, true).unwrap() };
    let empty_graph = time_us(500, N, || {
        unsafe { eg.launch(&stream, &mut args).unwrap() };
        wait(&stream);
    });
    let empty_coop_launch = time_us(200, 5000, || {
        unsafe { f.launch(&stream, shape, &mut args, true).unwrap() };
        stream.synchronize().unwrap();
    });

    line("forward_device (launch + bounded wait)", &plain, Some(20.0));
    line("graph replay (set params + launch + wait)", &replay, Some(10.0));
    line("launch() call alone", &launch_only, None);
    line("launch_graph() call alone", &graph_launch_only, None);
    line("launch() + wait(), the split API", &launch, None);
    println!("  {:<44} median {:7.2} us  min {:7.2}  (CUDA events around the launch)", "kernel", kernel.ms * 1e3, kernel.ms_min * 1e3);
    line("empty kernel, cooperative launch + wait", &empty_coop, None);
    line("empty kernel, plain launch + wait", &empty_plain, None);
    line("empty kernel, cooperative graph + wait", &empty_graph, None);
    line("empty kernel, coop launch + cuStreamSynchronize", &empty_coop_launch, None);
    println!(
        "  (host-inclusive = host clock around each call; the layer's fixed cost over the empty kernel = forward_device - empty coop: {:.2} us)",
        stats(&plain).1 - stats(&empty_coop).1
    );
}

#[test]
fn stats_of_a_sample() {
    let us: Vec<f64> = (1..=100).rev().map(f64::from).collect();
    let (mean, median, p10, p99) = stats(&us);
    assert_eq!((mean, median, p10, p99), (50.5, 51.0, 11.0, 99.0));
    assert_eq!(stats(&[3.0]), (3.0, 3.0, 3.0, 3.0));
    let mut calls = 0;
    let t = time_us(2, 3, || calls += 1);
    assert_eq!((calls, t.len()), (5, 3));
    assert!(t.iter().all(|&v| v >= 0.0));
}
