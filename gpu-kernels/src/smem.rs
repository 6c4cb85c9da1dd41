//! The block's dynamic shared memory as typed `#[repr(C)]` layouts: [`Block`] for a 128-thread
//! block (the GEMM pipeline, then a small region of words the roles use to broadcast and scan)
//! and [`ws::Block`] for a warp-specialized one. The code addresses shared memory by the
//! offsets below, each `offset_of!` a field, so no region can overlap another or outgrow its
//! place; the host's launch sizes (`layout::SHARED_BYTES`, `layout::WS_SHARED_BYTES`) are
//! checked against the layouts.

use core::mem::{offset_of, size_of};

use crate::gemm::mainloop::Pipeline;
use crate::layout::{MoeParams, SHARED_BYTES, TILE_M};

/// A 128-thread block's shared memory.
#[repr(C)]
pub struct Block {
    /// The GEMM pipeline's stages (`gemm::mainloop`); between GEMMs, scratch of the roles
    /// (the epilogue's staged tile, the static plan's counts).
    pub pipeline: Pipeline,
    /// This block's copy of the launch parameters (read by every thread, so kept on chip).
    pub params: [u8; 512],
    /// The current task (processors).
    pub task: [u32; 6],
    /// The static decode plan's row tiles and expected returned rows (see `decode`).
    pub static_plan: [u32; 2],
    /// Broadcast words (a group's, see `group::Group`).
    pub broadcast: [u32; 8],
    /// Scratch for block scans and reductions: two independent sets.
    pub scan_a: [u32; 8],
    pub scan_b: [u32; 8],
    /// Row tables of the current GEMM task (an address per row): operand A rows, output rows.
    pub a_rows: [u64; TILE_M as usize],
    pub out_rows: [u64; TILE_M as usize],
    /// A processor's deferred failure (see `fault::defer`).
    pub fault: [u32; 8],
}

pub const PARAMS: u32 = offset_of!(Block, params) as u32;
pub const TASK: u32 = offset_of!(Block, task) as u32;
pub const STATIC_PLAN: u32 = offset_of!(Block, static_plan) as u32;
pub const BROADCAST: u32 = offset_of!(Block, broadcast) as u32;
pub const SCAN_A: u32 = offset_of!(Block, scan_a) as u32;
pub const SCAN_B: u32 = offset_of!(Block, scan_b) as u32;
pub const A_ROWS: u32 = offset_of!(Block, a_rows) as u32;
pub const OUT_ROWS: u32 = offset_of!(Block, out_rows) as u32;
pub const FAULT: u32 = offset_of!(Block, fault) as u32;

const _: () = assert!(size_of::<MoeParams>() <= 512);
const _: () = assert!(size_of::<Block>() as u32 == SHARED_BYTES);
// The task's words end where `TaskClock` and `decode` expect the static plan's.
const _: () = assert!(STATIC_PLAN == TASK + 24);

/// The warp-specialized block's shared memory (`layout::WS_*`): stages 0 and 1 fill the
/// 128-thread pipeline's memory, the rest and everything else follow its aux region.
#[cfg(target_feature = "sm_90a")]
pub mod ws {
    use core::mem::{offset_of, size_of};

    use crate::gemm::mainloop::WsStage;
    use crate::layout::{SHARED_BYTES, TILE_M, WS_SHARED_BYTES, WS_STAGE_BYTES, WS_STAGES, WS_STAGING_BYTES, WS_TAIL};

    const STAGES: usize = WS_STAGES as usize;

    #[repr(C)]
    pub struct Block {
        /// A 128-thread block's layout: its pipeline holds stages 0 and 1.
        pub base: super::Block,
        /// Up to the next 1024-byte boundary (swizzled operand tiles).
        _align: [u8; (WS_TAIL - SHARED_BYTES) as usize],
        /// Stages 2.. of the ring.
        pub stages: [WsStage; STAGES - 2],
        /// mbarriers: stage s full, stage s empty, task slot i's full and free.
        pub full: [u64; STAGES],
        pub empty: [u64; STAGES],
        pub task_full: [u64; 2],
        pub task_free: [u64; 2],
        _barriers_pad: [u8; 128 - 8 * (2 * STAGES + 4)],
        /// Task slot i (16 words, see `os::ws`): both consumers read it.
        pub slots: [[u32; 16]; 2],
        /// Slot i's output row table.
        pub out_rows: [[u64; TILE_M as usize]; 2],
        /// Consumer c's broadcast words.
        pub words: [[u32; 4]; 2],
        /// Set by a consumer that failed: the producer hands out no more tasks.
        pub stop: u32,
        /// Warpgroup 0's verdict on the roles (1: run the tasks), for the consumers it starts.
        pub go: u32,
        /// The producer's current task: how many K slices of A come by its box
        /// (`ffn::boxed_slices`), for every producer thread.
        pub boxed_slices: u32,
        /// Warpgroup 0's word to the consumers once the logits' grid barrier returned (1: it
        /// passed, they route: `os::ws::route`).
        pub route: u32,
        /// The running task's streamed row tile, stored from the stages by consumer 0's thread 0.
        pub stream_store: StreamStore,
        /// The producer's count of K slices of tasks that read streamed tiles: by TMA, in all
        /// (`layout::timeline::STREAMED_SLICES`).
        pub streamed_slices: [u32; 2],
        /// Consumer 0's ns waiting for a task slot: ended by a GEMM task (not its first), and by
        /// a combine or exit task (`layout::timeline::CONSUMER_WAIT_NS`).
        pub consumer_wait: [u32; 2],
        /// Consumer 0's task clock, when a timeline is recorded.
        pub task_clock: TaskClock,
        /// Consumer c's epilogue staging (`gemm::epilogue::store`).
        pub staging: [crate::gemm::epilogue::Chunk; 2],
    }

    /// A task that streams its row tile (`ffn::stored_row`): its K slices go from the stages to
    /// the dispatch rows as they land (`gemm::mainloop::store_streamed_slice`).
    #[repr(C)]
    pub struct StreamStore {
        /// The tile's first dispatch row, or `NONE`: the task stores nothing.
        pub row: u32,
        /// The task's K slices (kept here: `plan` held across the epilogue for the release
        /// spilled).
        pub slices: u32,
        /// The dispatch rows' TMA map (`layout::a_maps::DISPATCH_ROWS`), low word first; set once
        /// per launch (`os::ws::init_for`).
        pub map: [u32; 2],
    }

    /// Consumer 0's clock of its GEMM tasks (`os::ws`, `layout::timeline::TASK_NS`).
    #[repr(C)]
    pub struct TaskClock {
        /// The running task's start or last lap (`%globaltimer` ns, low 32 bits) and its kind.
        pub start: u32,
        pub kind: u32,
        /// Per kind: mainloop ns, epilogue ns, `finish` ns, tasks.
        pub laps: [[u32; 4]; crate::layout::timeline::TASK_KINDS],
        _pad: [u32; 2],
    }
    const _: () = assert!(size_of::<TaskClock>() as u32 == 4 * crate::layout::TASK_CLOCK_WORDS);

    /// Shared offset of lap word `field` (mainloop, epilogue, finish, tasks) of task `kind`.
    #[inline(always)]
    pub fn task_lap(kind: u32, field: u32) -> u32 {
        TASK_CLOCK + offset_of!(TaskClock, laps) as u32 + 16 * kind + 4 * field
    }

    /// Shared offset of pipeline stage `s` (< `WS_STAGES`).
    #[inline(always)]
    pub fn stage(s: u32) -> u32 {
        if s < 2 { s * WS_STAGE_BYTES } else { WS_TAIL + (s - 2) * WS_STAGE_BYTES }
    }

    pub const FULL: u32 = offset_of!(Block, full) as u32;
    pub const EMPTY: u32 = offset_of!(Block, empty) as u32;
    pub const TASK_FULL: u32 = offset_of!(Block, task_full) as u32;
    pub const TASK_FREE: u32 = offset_of!(Block, task_free) as u32;
    pub const SLOTS: u32 = offset_of!(Block, slots) as u32;
    pub const OUT_ROWS: u32 = offset_of!(Block, out_rows) as u32;
    pub const WORDS: u32 = offset_of!(Block, words) as u32;
    pub const STOP: u32 = offset_of!(Block, stop) as u32;
    pub const ROUTE: u32 = offset_of!(Block, route) as u32;
    pub const GO: u32 = offset_of!(Block, go) as u32;
    pub const BOXED_SLICES: u32 = offset_of!(Block, boxed_slices) as u32;
    pub const STREAM_STORE_ROW: u32 = (offset_of!(Block, stream_store) + offset_of!(StreamStore, row)) as u32;
    pub const STREAM_STORE_SLICES: u32 = (offset_of!(Block, stream_store) + offset_of!(StreamStore, slices)) as u32;
    pub const STREAM_STORE_MAP: u32 = (offset_of!(Block, stream_store) + offset_of!(StreamStore, map)) as u32;
    pub const STREAMED_SLICES: u32 = offset_of!(Block, streamed_slices) as u32;
    pub const CONSUMER_WAIT: u32 = offset_of!(Block, consumer_wait) as u32;
    pub const TASK_CLOCK: u32 = offset_of!(Block, task_clock) as u32;
    pub const TASK_CLOCK_START: u32 = TASK_CLOCK + offset_of!(TaskClock, start) as u32;
    pub const TASK_CLOCK_KIND: u32 = TASK_CLOCK + offset_of!(TaskClock, kind) as u32;
    pub const STAGING: u32 = offset_of!(Block, staging) as u32;

    const _: () = assert!(offset_of!(Block, stages) as u32 == WS_TAIL && WS_TAIL.is_multiple_of(1024));
    const _: () = assert!(2 * WS_STAGE_BYTES <= crate::layout::PIPELINE_BYTES);
    const _: () = assert!(WS_STAGING_BYTES == crate::gemm::epilogue::CHUNK_BYTES);
    const _: () = assert!(size_of::<Block>() as u32 == WS_SHARED_BYTES);
    // The epilogue's staging takes 16-byte vector accesses (an 8-byte shift of it faulted with a
    // misaligned address).
    const _: () = assert!(offset_of!(Block, staging).is_multiple_of(16));
}
