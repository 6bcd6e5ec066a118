//! PIPE: `addr` points at an `[i32; 2]` that receives the new read and
//! write handles; `op_flags` is 0 or `O_CLOEXEC` (handles never cross a
//! spawn unless passed explicitly, so every handle is close-on-exec
//! already).  `res` is 0.

use super::{Context, Started};
use crate::mm::pin::{Access, PinnedBuffer};
use crate::proc::handles::Handle;
use abi::file::O_CLOEXEC;
use abi::{Errno, Sqe};
use alloc::sync::Arc;

pub fn start(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        if sqe.op_flags & !O_CLOEXEC != 0 {
            return Err(Errno::EINVAL);
        }
        // Pinned first: a bad pointer leaves no handles behind.
        let out = context
            .process
            .with_space_mut(|space| PinnedBuffer::new(space, sqe.addr, 8, Access::Write))
            .ok_or(Errno::ESRCH)??;
        let (read, write) = crate::fs::pipe::pair();
        let (read, write) = {
            let mut handles = context.process.handles.lock();
            let read = handles.insert(Handle::PipeRead(Arc::new(read)))?;
            match handles.insert(Handle::PipeWrite(Arc::new(write))) {
                Ok(write) => (read, write),
                Err(errno) => {
                    handles.remove(read);
                    return Err(errno);
                }
            }
        };
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&read.to_le_bytes());
        bytes[4..].copy_from_slice(&write.to_le_bytes());
        out.write_from(&bytes);
        Ok(0)
    })();
    result.into()
}
