//! The warp-specialized forward (`--mainloop ws`) on a tiny layer, watched: the timeline lives in
//! host-mapped memory, so when the kernel hangs a watcher thread prints where every warpgroup
//! of every block stopped (steps of `forward_ws`, timeline slots WG_STEP..) and exits.

mod common;

use std::time::Duration;

use flashmoe::layout::timeline;
use flashmoe::numeric::NAN_BYTE;
use flashmoe::{Arch, Cluster, ConfigError, DType, Error, Mainloop, MoeConfig, MoeLayer, OwnRows, SharedExpert, Tuning};

#[test]
#[ignore = "needs GPU"]
fn warp_specialized_forward_finishes_or_says_where_it_stopped() {
    let cluster = Cluster::first(1).expect("a GPU");
    if cluster.gpus()[0].arch() != Arch::Sm90a {
        return;
    }
    let cfg = tiny();
    let (w, x) = common::weights_and_inputs(&cfg, 1, 7, common::Inputs::Random);
    let x: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let tuning = Tuning { mainloop: Mainloop::WarpSpecialized, ..Tuning::default() };
    let mut layer = MoeLayer::builder(&cluster, cfg.clone()).tuning(tuning).build().unwrap();
    layer.load_weights(&w).unwrap();
    layer.set_timeout(Duration::from_millis(500));
    layer.record_timeline(true).unwrap();
    let live = layer.timeline_live(0).unwrap().unwrap();
    let watchdog = common::Watchdog::arm(Duration::from_secs(8), move || {
        let blocks = live_len(&live) / timeline::SLOTS;
        let mut seen = std::collections::BTreeMap::new();
        for b in 0..blocks {
            let row: Vec<u64> = (0..timeline::SLOTS).map(|s| live.get(b * timeline::SLOTS + s).unwrap_or(0)).collect();
            let key = (row[timeline::WG_STEP], row[timeline::WG_STEP + 1], row[timeline::WG_STEP + 2], row[timeline::TASKS]);
            seen.entry(key).or_insert_with(Vec::new).push(b);
            if b < 3 {
                println!("block {b}: {row:?}");
            }
        }
        for (k, bs) in seen {
            println!(
                "steps (wg0, wg1, wg2) = ({}, {}, {}), tasks {}: {} blocks, first {:?}",
                k.0,
                k.1,
                k.2,
                k.3,
                bs.len(),
                &bs[..bs.len().min(4)]
            );
        }
        println!("the warp-specialized forward hung");
    });
    let r = layer.forward(&[&x]);
    watchdog.disarm();
    match r {
        Ok(_) => println!("the warp-specialized forward finished"),
        Err(e) => println!("the warp-specialized forward failed: {e}"),
    }
}

/// A shared expert is not in the warp-specialized engine's tasks: asking for both is a typed
/// error at build time, before anything is allocated or launched (FLASHMOE_TEST_MAINLOOP=ws runs
/// such layers on the default engine).
#[test]
#[ignore = "needs GPU"]
fn a_shared_expert_on_the_warp_specialized_engine_is_refused() {
    let cluster = Cluster::first(1).expect("a GPU");
    if cluster.gpus()[0].arch() != Arch::Sm90a {
        return;
    }
    let cfg = MoeConfig { shared: Some(SharedExpert { inter: 512, sigmoid_gate: false }), ..tiny() };
    let tuning = Tuning { mainloop: Mainloop::WarpSpecialized, ..Tuning::default() };
    match MoeLayer::builder(&cluster, cfg).tuning(tuning).build() {
        Err(Error::Config(ConfigError::NotInKernel(what))) => assert!(what.contains("shared expert"), "{what}"),
        Err(e) => panic!("expected ConfigError::NotInKernel, got {e}"),
        Ok(_) => panic!("a shared expert on the ws engine was accepted"),
    }
}

/// Own rows streamed by each row tile's first GEMM0 task, copied by the dispatch, or gathered
/// by every GEMM0 task: the same rows through the same arithmetic, so the same bits; each is
/// checked against the f64 reference, the streamed layer twice (its stored-slice counts start
/// again at every launch). Full tiles (128 rows of one expert) stream; partial, merged and skewed
/// ones do not; k = 1..4, drops, gated and not, GEMM0 K of 4 and 9 slices.
#[test]
#[ignore = "needs GPU"]
fn streamed_copied_and_gathered_own_rows_give_the_same_bits() {
    let cluster = Cluster::first(1).expect("a GPU");
    if cluster.gpus()[0].arch() != Arch::Sm90a {
        return;
    }
    use common::Inputs;
    // (tokens, hidden, inter, experts, k, gated, capacity factor, inputs)
    let cases = [
        (1000, 256, 512, 8, 2, false, None, Inputs::Random),
        (777, 576, 256, 4, 3, true, None, Inputs::Random),
        (2048, 512, 768, 16, 4, true, Some(1.0), Inputs::AllTo(3)),
        (3000, 256, 1024, 8, 1, false, None, Inputs::Random),
    ];
    for (i, (tokens, hidden, inter, experts, top_k, gated, capacity_factor, inputs)) in cases.into_iter().enumerate() {
        let cfg = MoeConfig { tokens, hidden, inter, experts, top_k, gated, capacity_factor, dtype: DType::Bf16, ..MoeConfig::default() };
        let (w, x) = common::weights_and_inputs(&cfg, 1, 90 + i as u64, inputs);
        let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let mut outs = Vec::new();
        for own in [OwnRows::Gathered, OwnRows::Copied, OwnRows::Streamed] {
            let tuning = Tuning {
                mainloop: Mainloop::WarpSpecialized,
                copy_local: Some(own == OwnRows::Copied),
                stream_rows: Some(own == OwnRows::Streamed),
                ..common::tuning()
            };
            let mut layer = MoeLayer::builder(&cluster, cfg.clone()).tuning(tuning).build().unwrap();
            assert_eq!(layer.own_rows(0).unwrap(), own);
            layer.load_weights(&w).unwrap();
            for run in 0..if own == OwnRows::Streamed { 2 } else { 1 } {
                layer.output_buffer(0).unwrap().fill(0, tokens * hidden * 2, NAN_BYTE).unwrap();
                let out = layer.forward(&[&xs]).unwrap_or_else(|e| panic!("{cfg:?} {own:?}: {e}"));
                let v = flashmoe::verify::check(&layer, &w, &x, &out, tokens, None, 91).unwrap();
                println!("{cfg:?} {own:?} run {run}: {v:?}");
                assert!(v.passed(DType::Bf16), "{cfg:?} {own:?}: {v:?}");
                outs.push((own, out.into_iter().next().unwrap()));
            }
        }
        for (own, out) in &outs[1..] {
            let same = out.iter().zip(&outs[0].1).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{cfg:?}: {own:?} differs from gathered rows");
        }
    }
}

/// A layer built for prefill (2048 tokens: 512 rows per expert, the warp-specialized engine by
/// `Mainloop::Auto`) runs its decode forwards on the lean kernel where `heuristics::lean` takes
/// them (T = 1 and 3 here) and on the 128-thread engine with the static plan otherwise, and
/// going back and forth between the engines leaves every forward right.
#[test]
#[ignore = "needs GPU"]
fn a_layer_built_for_prefill_decodes_on_the_128_thread_engine() {
    use flashmoe::entries::MainloopKind::{Dots, WarpSpecialized};
    let cluster = Cluster::first(1).expect("a GPU");
    if cluster.gpus()[0].arch() != Arch::Sm90a {
        return;
    }
    for (gated, lean) in [(false, Some(false)), (true, Some(false)), (true, None), (false, None)] {
        let cfg = MoeConfig { tokens: 2048, hidden: 512, inter: 512, experts: 8, gated, capacity_factor: None, ..tiny() };
        let (w, x) = common::weights_and_inputs(&cfg, 1, 95 + gated as u64, common::Inputs::Random);
        let tuning = Tuning { mainloop: Mainloop::Auto, lean, ..common::tuning() };
        let takes_lean = lean.or(common::tuning().lean) != Some(false);
        let mut layer = MoeLayer::builder(&cluster, cfg.clone()).tuning(tuning).build().unwrap();
        assert_eq!(layer.kernel(0).unwrap().mainloop, Some(WarpSpecialized));
        assert_eq!(layer.kernel_for(0, 2048).unwrap().0.mainloop, Some(WarpSpecialized));
        let (decode, grid) = layer.kernel_for(0, 1).unwrap();
        assert_ne!(decode.mainloop, Some(WarpSpecialized));
        assert_eq!(decode.mainloop == Some(Dots), takes_lean, "gated {gated}, lean {lean:?}");
        if !takes_lean {
            assert!(grid > layer.grid(0).unwrap(), "two 128-thread blocks per SM against one 384-thread block");
        }
        assert!(layer.static_plan(0, 1).unwrap() != takes_lean && !layer.static_plan(0, 2048).unwrap());
        layer.load_weights(&w).unwrap();
        // Wide, decode, small, wide again, decode again: the engines share the layer's scratch.
        for (i, tokens) in [2048, 1, 300, 2048, 3].into_iter().enumerate() {
            let xs: Vec<f32> = x[..tokens * cfg.hidden].iter().map(|&v| v as f32).collect();
            layer.output_buffer(0).unwrap().fill(0, tokens * cfg.hidden * 2, NAN_BYTE).unwrap();
            let out = layer.forward(&[&xs]).unwrap_or_else(|e| panic!("gated {gated} lean {lean:?} T={tokens}: {e}"));
            let v = flashmoe::verify::check(&layer, &w, &x[..tokens * cfg.hidden], &out, tokens, None, 96 + i as u64).unwrap();
            println!("gated {gated} T={tokens} on {}: {v:?}", layer.kernel_for(0, tokens).unwrap().0.name);
            assert!(v.passed(DType::Bf16), "gated {gated} T={tokens}: {v:?}");
        }
    }
}

/// With a timeline, consumer 0 of every block times each GEMM task it ran by kind (GEMM0 storing
/// its row tile, other GEMM0, GEMM1): together they are every task handed out but the combine
/// tasks, each kind present here ran, and its laps add up to a plausible time.
#[test]
#[ignore = "needs GPU"]
fn the_task_clock_counts_every_gemm_task_by_kind() {
    let cluster = Cluster::first(1).expect("a GPU");
    if cluster.gpus()[0].arch() != Arch::Sm90a {
        return;
    }
    let cfg = MoeConfig { tokens: 2048, hidden: 512, inter: 512, experts: 4, top_k: 2, dtype: DType::Bf16, ..MoeConfig::default() };
    let (w, x) = common::weights_and_inputs(&cfg, 1, 31, common::Inputs::Random);
    let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let tuning = Tuning { mainloop: Mainloop::WarpSpecialized, stream_rows: Some(true), ..common::tuning() };
    let mut layer = MoeLayer::builder(&cluster, cfg.clone()).tuning(tuning).build().unwrap();
    layer.load_weights(&w).unwrap();
    layer.record_timeline(true).unwrap();
    let out = layer.forward(&[&xs]).unwrap();
    let v = flashmoe::verify::check(&layer, &w, &x, &out, cfg.tokens, None, 32).unwrap();
    assert!(v.passed(DType::Bf16), "{v:?}");
    let blocks = layer.timeline(0).unwrap().unwrap();
    let procs = &blocks[1..];
    let handed_out: u64 = procs.iter().map(|b| b[timeline::TASKS]).sum();
    let mut counted = 0;
    for kind in 0..timeline::TASK_KINDS {
        let (mut mainloop, mut epilogue, mut n) = (0u64, 0u64, 0u64);
        for b in procs {
            let [m, e, _, tasks] = timeline::task_laps(b, kind);
            (mainloop, epilogue, n) = (mainloop + m, epilogue + e, n + tasks);
        }
        println!("kind {kind}: {n} tasks, mainloop {mainloop} ns, epilogue {epilogue} ns");
        assert!(n > 0, "no task of kind {kind} was timed");
        assert!(mainloop > 0 && epilogue > 0 && mainloop / n < 10_000_000, "kind {kind}: {mainloop} / {epilogue} ns over {n} tasks");
        counted += n;
    }
    let combines = flashmoe::layout::combine_tasks(cfg.tokens as u32) as u64;
    assert_eq!(counted, handed_out - combines, "GEMM tasks timed vs tasks handed out ({handed_out}) less combines ({combines})");
}

/// The tiny layer of the first two tests: 64 tokens, H = I = 256, E = 8, k = 2, bf16, nothing dropped.
fn tiny() -> MoeConfig {
    MoeConfig {
        tokens: 64,
        hidden: 256,
        inter: 256,
        experts: 8,
        top_k: 2,
        dtype: DType::Bf16,
        capacity_factor: None,
        ..MoeConfig::default()
    }
}

fn live_len(m: &flashmoe::driver::HostMapped<u64>) -> usize {
    let mut n = 0;
    while m.get(n).is_some() {
        n += 1;
    }
    n
}
