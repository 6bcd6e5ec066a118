//! MMAP, MUNMAP, MPROTECT and VM_QUERY (the region model: `mm::region`,
//! `mm::space`, `mm::object`).
//!
//! - MMAP: `fd` = -1 with `MAP_ANONYMOUS`, or an initfs file handle with
//!   `off` = the page-aligned file offset; `addr` = a hint (or the exact
//!   address with `MAP_FIXED`), `len` = bytes, `op_flags` = `MapFlags`
//!   (exactly one of `MAP_SHARED`/`MAP_PRIVATE`; `MAP_STACK` marks a stack
//!   region), `ioprio` = `ProtFlags` (writable and executable at once is
//!   `EACCES`), `addr3` = where the address is stored.  Pages arrive on
//!   first touch (a page fault is a completion event: the thread parks and
//!   a fault future maps the page): zeroed for anonymous memory, the file's
//!   page for a file.  A private file mapping copies a page on its first
//!   write; a shared one cannot be writable (`EACCES`: the initfs is
//!   read-only).  `MAP_SHARED | MAP_ANONYMOUS` memory stays shared with a
//!   `SPACE_CLONE` child.  A touch wholly past the file's end kills the
//!   process, as `SIGBUS` does on Linux.  `res` is 0.
//! - MUNMAP: `addr`/`len`; only what MMAP mapped (`EPERM` for the stack,
//!   the ring or the program image); holes are fine.  Completes once every
//!   CPU has dropped the old translations (a TLB shootdown) and every op
//!   using the pages (a READ into them) has finished, then frees the
//!   frames: the pinned frames are never freed or reused while in use.
//!
//! - MPROTECT: `addr`/`len`, `op_flags` = `ProtFlags`; only MMAP's
//!   regions (`EPERM`), no holes (`ENOMEM`), never writable and executable
//!   (`EACCES`).  Completes once every CPU has dropped the old
//!   permissions.  `PROT_NONE` takes the user bit away (the page stays, so
//!   its data comes back with a later MPROTECT).
//!
//! - VM_QUERY: the caller's regions as `abi::file::VmRegion` records.
//!

use super::{Context, OpFuture, Started};
use crate::mm::PAGE_SIZE;
use crate::mm::frame::list::FrameList;
use crate::mm::object::MemObject;
use crate::mm::pin::{Access, PinnedBuffer};
use crate::mm::region::{Protection, RegionFlags};
use crate::mm::shootdown::{self, Gather, Pending};
use crate::mm::space::{Placement, Source, Space};
use crate::proc::handles::Handle;
use abi::file::VmRegion;
use abi::{Errno, MapFlags, Sqe};
use alloc::boxed::Box;

pub fn mmap(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        let flags = MapFlags::validate(sqe.op_flags)?;
        let protection = Protection::from_user(u32::from(sqe.ioprio))?;
        let shared = flags.contains(MapFlags::SHARED);
        let source = if flags.contains(MapFlags::ANONYMOUS) {
            if sqe.fd != -1 || sqe.off != 0 {
                return Err(Errno::EINVAL);
            }
            if shared {
                let bytes = crate::mm::region::mmap_len(u64::from(sqe.len))?;
                Source::Object(MemObject::shared_anonymous(bytes))
            } else {
                Source::Anonymous
            }
        } else {
            if !sqe.off.is_multiple_of(PAGE_SIZE) {
                return Err(Errno::EINVAL);
            }
            let file = match context.process.handles.lock().get(sqe.fd)? {
                Handle::File(file) => file,
                _ => return Err(Errno::EACCES),
            };
            if file.entry.kind != crate::fs::EntryKind::File {
                return Err(Errno::ENODEV);
            }
            // The initfs is read-only: a shared mapping cannot write it.
            if shared && protection.writable {
                return Err(Errno::EACCES);
            }
            Source::Object(crate::mm::object::for_file(file.entry.data))
        };
        let mut region_flags = RegionFlags::empty();
        if flags.contains(MapFlags::STACK) {
            region_flags |= RegionFlags::STACK;
        }
        if shared {
            region_flags |= RegionFlags::SHARED;
        }
        let placement = if flags.contains(MapFlags::FIXED) {
            Placement::Fixed(sqe.addr)
        } else {
            Placement::Anywhere { hint: sqe.addr }
        };
        // Pinned before anything changes: a bad result pointer maps nothing.
        let out = pin_result(context, sqe.addr3)?;
        let (addr, frames, pending) = context
            .process
            .with_space_mut(|space| {
                space
                    .map_user(
                        placement,
                        u64::from(sqe.len),
                        protection,
                        region_flags,
                        source,
                        sqe.off,
                    )
                    .map(|(addr, frames, gather)| (addr, frames, begin(space, gather)))
            })
            .ok_or(Errno::ESRCH)??;
        out.write_from(&addr.to_le_bytes());
        Ok(finish(context, frames, pending))
    })();
    result.unwrap_or_else(|errno| Started::Done(errno.as_res()))
}

pub fn munmap(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        let (frames, pending) = context
            .process
            .with_space_mut(|space| {
                space
                    .unmap_user(sqe.addr, u64::from(sqe.len))
                    .map(|(frames, gather)| (frames, begin(space, gather)))
            })
            .ok_or(Errno::ESRCH)??;
        Ok::<_, Errno>(finish(context, frames, pending))
    })();
    result.unwrap_or_else(|errno| Started::Done(errno.as_res()))
}

pub fn mprotect(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        let protection = Protection::from_user(sqe.op_flags)?;
        let pending = context
            .process
            .with_space_mut(|space| {
                space
                    .protect_user(sqe.addr, u64::from(sqe.len), protection)
                    .map(|gather| begin(space, gather))
            })
            .ok_or(Errno::ESRCH)??;
        Ok::<_, Errno>(finish(context, FrameList::new(), pending))
    })();
    result.unwrap_or_else(|errno| Started::Done(errno.as_res()))
}

/// REMAP_PAGES: `fd` = -1 (the caller's space), `addr`/`len` = pages of
/// one shared file mapping, `off` = the page-aligned file offset they show
/// from now on, `op_flags` = their own `ProtFlags` (not writable: the
/// initfs is read-only).  The region is not split: it becomes nonlinear
/// (VM_QUERY's `VM_NONLINEAR`), each page with its own file page and
/// protection, which faults check.  The old entries are dropped as one
/// gathered shootdown; the new pages come on first touch.  A later
/// MPROTECT gives every page of its range the new protection and keeps
/// its file page.  `res` is 0.
pub fn remap_pages(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        if sqe.fd != -1 {
            return Err(Errno::EINVAL);
        }
        let protection = Protection::from_user(sqe.op_flags)?;
        let (frames, pending) = context
            .process
            .with_space_mut(|space| {
                space
                    .remap_pages(sqe.addr, u64::from(sqe.len), sqe.off, protection)
                    .map(|(frames, gather)| (frames, begin(space, gather)))
            })
            .ok_or(Errno::ESRCH)??;
        Ok(finish(context, frames, pending))
    })();
    result.unwrap_or_else(|errno| Started::Done(errno.as_res()))
}

/// VM_QUERY: the caller's regions, as `VmRegion` records, into `addr`
/// (`len` bytes: as many whole records as fit).  `res` is the bytes
/// written.
pub fn vm_query(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        let room = sqe.len as usize / VmRegion::BYTES;
        let records = context
            .process
            .with_space(|space| space.query(room))
            .ok_or(Errno::ESRCH)??;
        let bytes = records.len() * VmRegion::BYTES;
        let buffer = context
            .process
            .with_space_mut(|space| PinnedBuffer::new(space, sqe.addr, bytes as u64, Access::Write))
            .ok_or(Errno::ESRCH)??;
        for (index, record) in records.iter().enumerate() {
            buffer.write_at(index * VmRegion::BYTES, &record.to_bytes());
        }
        Ok(bytes as u32)
    })();
    result.into()
}

/// Pins the 8 bytes at `addr` that receive MMAP's address.
fn pin_result(context: &Context, addr: u64) -> Result<PinnedBuffer, Errno> {
    if !addr.is_multiple_of(8) {
        return Err(Errno::EFAULT);
    }
    context
        .process
        .with_space_mut(|space| PinnedBuffer::new(space, addr, 8, Access::Write))
        .ok_or(Errno::ESRCH)?
}

/// Starts the shootdown of what a change to `space` left in `gather`,
/// before the space's lock goes: once another thread can map the range
/// again, every CPU that may hold an old translation has its IPI (and
/// takes it before it runs user code again), and the one here has
/// flushed.  Started later, from a task, it let a thread of the process
/// map the range anew and write its new pages through another CPU's
/// stale entries into the old frames, which were then freed: the new
/// pages read as zeros (found by the stress at 8 CPUs).
fn begin(space: &Space, gather: Gather) -> Pending {
    shootdown::begin(space.pml4().as_u64(), gather)
}

/// Done at once when nothing was mapped before.  Otherwise the wait for
/// the shootdown and the pins (of the frames only this space had) and the
/// freeing run as a task of their own, which the op awaits: an op
/// cancelled midway (ASYNC_CANCEL, or its process ending) stops waiting,
/// but the frames are still freed, and only after every CPU has dropped
/// them.  Either way the process's
/// threads check their stacks afresh at their next entry.
fn finish(context: &Context, frames: FrameList, pending: Pending) -> Started {
    context.process.regions_changed();
    if pending.is_done() && frames.is_empty() {
        return Started::Done(0);
    }
    let runtime = crate::sched::runtime().expect("ops run under the executors");
    let release = runtime.spawn(async move {
        pending.wait().await;
        crate::mm::frame::global::release_once_unpinned(frames).await;
    });
    let future: OpFuture = Box::pin(async move {
        match release.await {
            Ok(()) => 0,
            Err(_) => Errno::ECANCELED.as_res(),
        }
    });
    Started::from(future)
}
