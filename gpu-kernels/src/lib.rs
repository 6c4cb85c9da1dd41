//! flashmoe kernels: the persistent fused MoE kernel and its building blocks.
//!
//! Built twice. For `nvptx64-nvidia-cuda` (by host/build.rs) it is the PTX of every kernel; for
//! the host it exposes [`layout`], the `#[repr(C)]` types and pure index logic both sides share,
//! and [`ranking`], the routers' ordering rules, both unit-tested on the CPU.
#![no_std]
#![cfg_attr(
    target_arch = "nvptx64",
    feature(
        abi_gpu_kernel,
        asm_experimental_arch,
        stdarch_nvptx,
        core_intrinsics,
        gpu_intrinsics,
        gpu_launch_sized_workgroup_mem,
        link_llvm_intrinsics,
        abi_unadjusted
    )
)]
#![cfg_attr(target_arch = "nvptx64", allow(internal_features))]

pub mod entries;
pub mod layout;
pub mod ranking;

#[cfg(target_arch = "nvptx64")]
#[macro_use]
mod unroll;
#[cfg(target_arch = "nvptx64")]
mod block;
#[cfg(target_arch = "nvptx64")]
mod combine;
#[cfg(target_arch = "nvptx64")]
mod decode;
#[cfg(target_arch = "nvptx64")]
mod dispatch;
#[cfg(target_arch = "nvptx64")]
mod fault;
#[cfg(target_arch = "nvptx64")]
mod ffn;
#[cfg(target_arch = "nvptx64")]
mod gate;
#[cfg(target_arch = "nvptx64")]
mod gemm;
#[cfg(target_arch = "nvptx64")]
mod grid;
#[cfg(all(target_arch = "nvptx64", target_feature = "sm_90a"))]
mod group;
#[cfg(target_arch = "nvptx64")]
mod lean;
#[cfg(target_arch = "nvptx64")]
mod moe;
#[cfg(all(target_arch = "nvptx64", feature = "nvshmem"))]
mod nvshmem;
#[cfg(target_arch = "nvptx64")]
mod os;
#[cfg(target_arch = "nvptx64")]
mod ptx;
#[cfg(target_arch = "nvptx64")]
mod smem;
#[cfg(target_arch = "nvptx64")]
mod sweep;
#[cfg(target_arch = "nvptx64")]
mod tile_test;
#[cfg(target_arch = "nvptx64")]
mod util;
#[cfg(target_arch = "nvptx64")]
mod util_kernels;

#[cfg(target_arch = "nvptx64")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: trap ends the kernel with an error the host sees at the next synchronisation.
    unsafe { core::arch::nvptx::trap() }
}
