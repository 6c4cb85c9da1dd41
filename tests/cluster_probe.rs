//! The cluster features a multicast weight stage needs (`cluster_probe`, sm_90a), alone:
//! launching in clusters of 2 (with and without the cooperative attribute, which the fused
//! kernel's grid barrier relies on), a TMA box multicast to both blocks of a cluster, and an
//! mbarrier arrival on the partner block through distributed shared memory.

use std::ffi::c_void;

use flashmoe::driver::{DeviceBuffer, LaunchConfig, Stream, TensorMap};
use flashmoe::entries::cluster_probe::{PARTNER_ARRIVED, ROWS, SHARED_BYTES, TILE_BYTES, TILE_LANDED};
use flashmoe::{Arch, Cluster};

/// Every block of 66 clusters of 2 receives the whole 128-row tile (each half loaded by one
/// block, multicast to both) and sees its partner's arrival; reports whether the cluster launch
/// may also be cooperative.
#[test]
#[ignore = "needs GPU"]
fn a_box_multicast_to_a_cluster_of_two_lands_in_both_blocks() {
    let cluster = Cluster::first(1).expect("a GPU");
    let gpu = &cluster.gpus()[0];
    if gpu.arch() != Arch::Sm90a {
        return;
    }
    let ctx = gpu.context();
    let (rows, tile) = (ROWS as usize, TILE_BYTES as usize);
    // Element (r, c) holds the bits r·64 + c: every 16-byte chunk of the tile is distinct.
    let bits: Vec<u16> = (0..rows * 64).map(|i| i as u16).collect();
    let src = DeviceBuffer::alloc(ctx, rows * 128).unwrap();
    src.write(0, &bits).unwrap();
    let map = TensorMap::bf16_2d(ctx, src.ptr(), rows as u64, 64, 128, ROWS / 2, 64).unwrap();
    let blocks = 132usize;
    let (out, status) = (DeviceBuffer::alloc(ctx, blocks * tile).unwrap(), DeviceBuffer::alloc(ctx, blocks * 4).unwrap());
    let f = gpu.function_in(Arch::Sm90a, "cluster_probe").unwrap();
    f.set_max_dynamic_shared(SHARED_BYTES).unwrap();
    let stream = Stream::new(ctx).unwrap();
    for cooperative in [true, false] {
        out.fill(0, blocks * tile, 0xff).unwrap();
        status.fill(0, blocks * 4, 0).unwrap();
        let (mut m, mut o, mut s) = (map.device_ptr(), out.ptr(), status.ptr());
        let mut args: Vec<*mut c_void> =
            vec![&mut m as *mut u64 as *mut c_void, &mut o as *mut u64 as *mut c_void, &mut s as *mut u64 as *mut c_void];
        let cfg = LaunchConfig { grid: blocks as u32, block: 128, shared_bytes: SHARED_BYTES };
        // SAFETY: the arguments match cluster_probe; the buffers and the map outlive the
        // synchronisation below.
        let launched = unsafe { f.launch_clusters(&stream, cfg, 2, &mut args, cooperative) }.and_then(|()| stream.synchronize());
        println!("clusters of 2, cooperative {cooperative}: {launched:?}");
        if cooperative && launched.is_err() {
            continue;
        }
        launched.unwrap();
        let mut words = vec![0u32; blocks];
        status.read(0, &mut words).unwrap();
        let mut got = vec![0u8; blocks * tile];
        out.read(0, &mut got).unwrap();
        for (b, &w) in words.iter().enumerate() {
            assert_eq!(w, (b % 2) as u32 | TILE_LANDED | PARTNER_ARRIVED, "block {b}: status {w:#x}");
            for r in 0..rows {
                for c in 0..8 {
                    // The 128-byte swizzle: 16-byte chunk c of row r sits at chunk c ^ (r % 8).
                    let at = b * tile + r * 128 + 16 * (c ^ (r % 8));
                    let want: Vec<u8> = bits[r * 64 + 8 * c..r * 64 + 8 * c + 8].iter().flat_map(|v| v.to_le_bytes()).collect();
                    assert_eq!(&got[at..at + 16], &want[..], "block {b}, row {r}, chunk {c}");
                }
            }
        }
    }
}
