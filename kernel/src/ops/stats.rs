//! MEM_STATS: what the kernel holds, into `addr`/`len` (an
//! `abi::file::MemStats`; a shorter buffer gets the fields that fit).

use super::{Context, Started};
use crate::mm::pin::{Access, PinnedBuffer};
use abi::file::MemStats;
use abi::{Errno, Sqe};

/// The numbers now.
pub fn snapshot() -> MemStats {
    let (live_threads, parked_threads) = crate::sched::thread::counts();
    MemStats {
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
    }
}

pub fn start(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        if sqe.fd != 0 || sqe.off != 0 || sqe.op_flags != 0 || sqe.addr3 != 0 || sqe.ioprio != 0 {
            return Err(Errno::EINVAL);
        }
        let mut stats = snapshot();
        if let Some((resident, tables)) = context
            .process
            .with_space(|space| (space.resident_pages(), space.table_pages()))
        {
            stats.resident_bytes = resident as u64 * 4096;
            stats.page_table_bytes = tables as u64 * 4096;
        }
        let fields = [
            stats.heap_bytes_requested,
            stats.heap_bytes_allocated,
            stats.free_frames,
            stats.managed_frames,
            stats.live_tasks,
            stats.live_threads,
            stats.parked_threads,
            stats.thread_struct_bytes,
            stats.resident_bytes,
            stats.page_table_bytes,
        ];
        let mut bytes = [0u8; 80];
        for (chunk, field) in bytes.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&field.to_le_bytes());
        }
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
