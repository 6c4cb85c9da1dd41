//! The fused forward through NVSHMEM's symmetric heap on one GPU as PE 0 of 1 (feature
//! `nvshmem`; NVSHMEM_HOME or NVSHMEM_HOST_LIB as for `tests/nvshmem_probe.rs`): the arena's heap
//! comes from `nvshmem_malloc`, the kernels from the NVSHMEM build's module after
//! `nvshmemx_cumodule_init`. Checked against the f64 reference and bitwise against the same
//! layer on the ordinary heap. Set NVSHMEM_DISABLE_NVLS=1 and NVSHMEM_REMOTE_TRANSPORT=none.
#![cfg(feature = "nvshmem")]

mod common;

use std::sync::Arc;

use flashmoe::dist::NvshmemHost;
use flashmoe::numeric::NAN_BYTE;
use flashmoe::{Cluster, DType, MoeConfig, MoeLayer, Scratch, verify};

#[test]
#[ignore = "needs GPU"]
fn forward_through_the_nvshmem_heap_on_one_pe() {
    let cluster = Cluster::first(1).expect("a GPU");
    cluster.gpus()[0].context().bind().unwrap();
    let host = Arc::new(NvshmemHost::load().expect("NVSHMEM's host library (NVSHMEM_HOME or NVSHMEM_HOST_LIB)"));
    let id = host.unique_id().unwrap();
    host.init(0, 1, &id, std::time::Duration::from_secs(120)).unwrap();
    for (dtype, experts, top_k, tokens, gated) in
        [(DType::Bf16, 8, 2, 130, false), (DType::Bf16, 64, 4, 1000, true), (DType::F16, 16, 1, 1, false)]
    {
        let cfg =
            MoeConfig { tokens, hidden: 256, inter: 320, experts, top_k, dtype, gated, capacity_factor: Some(1.0), ..MoeConfig::default() };
        let (w, x) = common::weights_and_inputs(&cfg, 1, 11, common::Inputs::Random);
        let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let io_bytes = tokens * cfg.hidden * dtype.bytes() as usize;
        let mut outs = Vec::new();
        for nvshmem in [true, false] {
            let scratch = if nvshmem {
                Scratch::with_nvshmem(&cluster, host.clone(), flashmoe::dist::PutRoute::default()).unwrap()
            } else {
                Scratch::new(&cluster).unwrap()
            };
            let mut layer = MoeLayer::builder(&cluster, cfg.clone()).tuning(common::tuning()).scratch(&scratch).build().unwrap();
            layer.load_weights(&w).unwrap();
            layer.output_buffer(0).unwrap().fill(0, io_bytes, NAN_BYTE).unwrap();
            let out = layer.forward(&[&xs]).unwrap();
            let v = verify::check(&layer, &w, &x, &out, tokens, None, 11).unwrap();
            println!("{dtype:?} E={experts} k={top_k} T={tokens} gated={gated} nvshmem heap={nvshmem}: {v:?}");
            assert!(v.passed(dtype), "{v:?}");
            outs.push(out);
        }
        let bitwise = outs[0][0].iter().zip(&outs[1][0]).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(bitwise, "the NVSHMEM heap's forward differs from the ordinary heap's");
    }
    // The NVSHMEM module stays loaded in the cluster; finalizing after its last launch is what
    // the probe does too.
    host.finalize().unwrap();
}
