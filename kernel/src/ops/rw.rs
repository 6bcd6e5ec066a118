//! READ and WRITE.  Today the descriptors are the console: 0 (input: not
//! wired yet, so a read answers `EAGAIN`), 1 and 2 (output).  The buffer is
//! pinned (`mm::pin`) for the operation's life and copied through the
//! direct map.

use super::{Context, Started};
use crate::mm::pin::{Access, MAX_PINNED_BYTES, PinnedBuffer};
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

pub fn read(sqe: &Sqe, _context: &Context) -> Started {
    let result: Result<u32, Errno> = match check_common(sqe) {
        Err(errno) => Err(errno),
        // Serial input arrives with the interactive shell; until then a
        // console read says so instead of hanging.
        Ok(()) if sqe.fd == 0 => Err(Errno::EAGAIN),
        Ok(()) => Err(Errno::EBADF),
    };
    result.into()
}
