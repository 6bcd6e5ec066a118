//! MEM_STATS: what the kernel holds, into `addr`/`len` (an
//! `abi::file::MemStats`; a shorter buffer gets the fields that fit): the
//! heap, frames, tasks, threads, the caller's memory (resident, page
//! tables, private dirty), every slab class's objects and frames, and the
//! frames user memory leaves to the kernel.

use super::{Context, Started};
use crate::mm::pin::{Access, PinnedBuffer};
use abi::file::{MemStats, SlabClassStats};
use abi::{Errno, Sqe};

// Every class has a slot in the ABI struct.
const _: () = assert!(crate::mm::slab::CLASS_COUNT <= abi::file::MAX_SLAB_CLASSES);

/// The numbers now.
pub fn snapshot() -> MemStats {
    let (live_threads, parked_threads) = crate::sched::thread::counts();
    let mut stats = MemStats {
        heap_bytes_requested: crate::mm::heap::bytes_in_use() as u64,
        heap_bytes_allocated: crate::mm::heap::bytes_allocated() as u64,
        free_frames: crate::mm::frame::global::free_frames() as u64,
        managed_frames: crate::mm::frame::global::managed_frames() as u64,
        live_tasks: crate::sched::runtime().map_or(0, |runtime| runtime.live_tasks()) as u64,
        live_threads: live_threads as u64,
        parked_threads: parked_threads as u64,
        thread_struct_bytes: core::mem::size_of::<crate::sched::thread::Thread>() as u64,
        resident_bytes: 0,
        page_table_bytes: 0,
        heap_large_frames: crate::mm::heap::large_frames() as u64,
        slab_classes: Default::default(),
        private_dirty_bytes: 0,
        user_reserve_frames: crate::mm::frame::global::user_reserve() as u64,
        fpu_areas: crate::sched::thread::fpu_areas() as u64,
    };
    for (out, class) in stats.slab_classes.iter_mut().zip(crate::mm::heap::stats()) {
        let spare_frames = class.spare_slabs * (class.frames / class.slabs.max(1));
        *out = SlabClassStats {
            object_bytes: class.object_bytes as u64,
            objects: class.objects as u64,
            frames: class.frames as u64,
            spare_frames: spare_frames as u64,
        };
    }
    stats
}

pub fn start(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        let mut stats = snapshot();
        if let Some(usage) = context.process.with_space(|space| space.usage()) {
            stats.resident_bytes = usage.resident_pages as u64 * 4096;
            stats.page_table_bytes = usage.table_pages as u64 * 4096;
            stats.private_dirty_bytes = usage.private_dirty_pages as u64 * 4096;
        }
        let bytes = stats.to_bytes();
        let len = (sqe.len as usize).min(bytes.len());
        let written = context
            .process
            .with_space_mut(|space| {
                PinnedBuffer::new(space, sqe.addr, len as u64, Access::Write)
                    .map(|buffer| buffer.write_from(&bytes[..len]))
            })
            .ok_or(Errno::ESRCH)??;
        Ok(written as u32)
    })();
    result.into()
}
