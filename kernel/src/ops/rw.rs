//! READ and WRITE on what a handle names:
//!
//! | handle | READ | WRITE |
//! |---|---|---|
//! | console | waits for a typed line (`fs::console`) | prints |
//! | initfs file | copies at `off`, or at the file's position when `off` is -1 | `EBADF` |
//! | pipe read end | waits for bytes; 0 at end of file | `EBADF` |
//! | pipe write end | `EBADF` | waits for room until all is written; `EPIPE` without readers |
//! | anything else | `EBADF` | `EBADF` |
//!
//! The console and pipes cannot seek: `off` must be 0 or -1 (`ESPIPE`).
//! The buffer is pinned (`mm::pin`) when the SQE is taken, held by the
//! op's future until its CQE, and copied through the direct map.

use super::{Context, Started};
use crate::mm::pin::{Access, MAX_PINNED_BYTES, PinnedBuffer};
use crate::proc::handles::{Handle, OpenFile};
use abi::{Errno, Sqe};
use alloc::sync::Arc;

/// `off` for "the current position" (io_uring's -1).
const CURRENT_POSITION: u64 = u64::MAX;

/// Streams (the console, pipes) have no position.
fn check_stream(sqe: &Sqe) -> Result<(), Errno> {
    if sqe.off != 0 && sqe.off != CURRENT_POSITION {
        return Err(Errno::ESPIPE);
    }
    Ok(())
}

/// Pins the SQE's buffer (at most [`MAX_PINNED_BYTES`] of it).
fn pin(sqe: &Sqe, context: &Context, access: Access) -> Result<PinnedBuffer, Errno> {
    let len = u64::from(sqe.len).min(MAX_PINNED_BYTES);
    context
        .process
        .with_space_mut(|space| PinnedBuffer::new(space, sqe.addr, len, access))
        .ok_or(Errno::ESRCH)?
}

fn handle(sqe: &Sqe, context: &Context) -> Result<Handle, Errno> {
    context.process.handles.lock().get(sqe.fd)
}

fn done(result: Result<usize, Errno>) -> Started {
    result.map(|count| count as u32).into()
}

pub fn write(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| match handle(sqe, context)? {
        Handle::Console => {
            check_stream(sqe)?;
            let buffer = pin(sqe, context, Access::Read)?;
            crate::arch::serial::write_pieces(|put| buffer.read_in_pieces(put));
            Ok(Started::Done(buffer.len() as i32))
        }
        Handle::PipeWrite(end) => {
            check_stream(sqe)?;
            // Copied into the pipe from the pinned pages as room appears:
            // a WRITE waiting for room holds no kernel copy of its bytes.
            let buffer = Arc::new(pin(sqe, context, Access::Read)?);
            let source = buffer.clone();
            Ok(Started::running_with(buffer, async move {
                match end.write(&*source).await {
                    Ok(count) => count as i32,
                    Err(errno) => errno.as_res(),
                }
            }))
        }
        _ => Err(Errno::EBADF),
    })();
    result.unwrap_or_else(|errno| Started::Done(errno.as_res()))
}

pub fn read(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| match handle(sqe, context)? {
        Handle::File(file) => Ok(done(read_file(&file, sqe, context))),
        Handle::Console => {
            check_stream(sqe)?;
            let buffer = Arc::new(pin(sqe, context, Access::Write)?);
            let target = buffer.clone();
            Ok(Started::running_with(buffer, async move {
                let line = crate::fs::console::read(target.len()).await;
                target.write_from(&line) as i32
            }))
        }
        Handle::PipeRead(end) => {
            check_stream(sqe)?;
            let buffer = pin(sqe, context, Access::Write)?;
            // Bytes already there: done now, no task.
            if let crate::fs::pipe::Attempt::Done(bytes) = end.pipe().try_read(buffer.len()) {
                return Ok(Started::Done(buffer.write_from(&bytes) as i32));
            }
            let buffer = Arc::new(buffer);
            let target = buffer.clone();
            Ok(Started::running_with(buffer, async move {
                let bytes = end.read(target.len()).await;
                target.write_from(&bytes) as i32
            }))
        }
        _ => Err(Errno::EBADF),
    })();
    result.unwrap_or_else(|errno| Started::Done(errno.as_res()))
}

/// Copies from an open initfs file into the user buffer: at `off`, or at
/// the file's position (advancing it) when `off` is -1.
fn read_file(file: &OpenFile, sqe: &Sqe, context: &Context) -> Result<usize, Errno> {
    if file.entry.kind == crate::fs::EntryKind::Directory {
        return Err(Errno::EISDIR);
    }
    let mut position = file.position.lock();
    let start = if sqe.off == CURRENT_POSITION {
        *position
    } else {
        sqe.off
    };
    let data = file.entry.data;
    let from = usize::try_from(start).unwrap_or(usize::MAX).min(data.len());
    let buffer = pin(sqe, context, Access::Write)?;
    let len = buffer.len().min(data.len() - from);
    let copied = buffer.write_from(&data[from..from + len]);
    if sqe.off == CURRENT_POSITION {
        *position = (from + copied) as u64;
    }
    Ok(copied)
}
