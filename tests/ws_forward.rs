//! The warp-specialized forward (`--mainloop ws`) on a tiny layer, watched: the timeline lives in
//! host-mapped memory, so when the kernel hangs a watcher thread prints where every warpgroup
//! of every block stopped (steps of `forward_ws`, timeline slots WG_STEP..) and exits.

mod common;

use std::time::Duration;

use flashmoe::layout::timeline;
use flashmoe::{Arch, Cluster, ConfigError, DType, Error, Mainloop, MoeConfig, MoeLayer, SharedExpert, Tuning};

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

/// The layer both tests build: 64 tokens, H = I = 256, E = 8, k = 2, bf16, nothing dropped.
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
