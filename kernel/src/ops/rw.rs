//! READ and WRITE.  Descriptors 0 (input: not wired yet, so a read
//! answers `EAGAIN`), 1 and 2 (output) are the console; higher ones are
//! handles, and READ reads open initfs files.  The buffer is pinned
//! (`mm::pin`) for the operation's life and copied through the direct map.

use super::{Context, Started};
use crate::mm::pin::{Access, MAX_PINNED_BYTES, PinnedBuffer};
use crate::proc::handles::{Handle, OpenFile};
use abi::{Errno, Sqe};

/// `off` for "the current position" (io_uring's -1).
const CURRENT_POSITION: u64 = u64::MAX;

fn check_common(sqe: &Sqe) -> Result<(), Errno> {
    if sqe.ioprio != 0
        || sqe.op_flags != 0
        || sqe.addr3 != 0
        || sqe.buf_index != 0
        || sqe.splice_fd_in != 0
    {
        return Err(Errno::EINVAL);
    }
    // The console cannot seek.
    if sqe.off != 0 && sqe.off != CURRENT_POSITION {
        return Err(Errno::ESPIPE);
    }
    Ok(())
}

pub fn write(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        check_common(sqe)?;
        if sqe.fd != 1 && sqe.fd != 2 {
            return Err(Errno::EBADF);
        }
        let len = u64::from(sqe.len).min(MAX_PINNED_BYTES);
        let bytes = context
            .process
            .with_space(|space| {
                PinnedBuffer::new(space, sqe.addr, len, Access::Read)
                    .map(|buffer| buffer.read_all())
            })
            .ok_or(Errno::ESRCH)??;
        crate::arch::serial::write_bytes(&bytes);
        Ok(bytes.len() as u32)
    })();
    result.into()
}

pub fn read(sqe: &Sqe, context: &Context) -> Started {
    let result: Result<u32, Errno> = (|| {
        if sqe.ioprio != 0
            || sqe.op_flags != 0
            || sqe.addr3 != 0
            || sqe.buf_index != 0
            || sqe.splice_fd_in != 0
        {
            return Err(Errno::EINVAL);
        }
        match sqe.fd {
            // Serial input arrives with the interactive shell; until then
            // a console read says so instead of hanging.
            0 => Err(Errno::EAGAIN),
            1 | 2 => Err(Errno::EBADF),
            fd => match context.process.handles.lock().get(fd)? {
                Handle::File(file) => read_file(&file, sqe, context),
                Handle::Child(_) | Handle::Ring(_) | Handle::Thread(_) => Err(Errno::EBADF),
            },
        }
    })();
    result.into()
}

/// Copies from an open initfs file into the user buffer: at `off`, or at
/// the file's position (advancing it) when `off` is -1.
fn read_file(file: &OpenFile, sqe: &Sqe, context: &Context) -> Result<u32, Errno> {
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
    let len = (u64::from(sqe.len).min(MAX_PINNED_BYTES) as usize).min(data.len() - from);
    let copied = context
        .process
        .with_space(|space| {
            PinnedBuffer::new(
                space,
                sqe.addr,
                u64::from(sqe.len).min(MAX_PINNED_BYTES),
                Access::Write,
            )
            .map(|buffer| buffer.write_from(&data[from..from + len]))
        })
        .ok_or(Errno::ESRCH)??;
    if sqe.off == CURRENT_POSITION {
        *position = (from + copied) as u64;
    }
    Ok(copied as u32)
}
