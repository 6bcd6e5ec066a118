//! OPENAT, CLOSE and STATX on the initfs (read-only).
//!
//! - OPENAT: `fd` = `AT_FDCWD` (paths are from the initfs root), `addr` = a
//!   NUL-terminated path, `op_flags` = `O_*`; anything but reading is
//!   `EROFS`.  `res` is a handle.
//! - CLOSE: `fd` = any handle (an open file, or a child not waited for).
//! - STATX: `fd` = `AT_FDCWD`, `addr` = the path, `off` = the
//!   `struct statx` to fill (io_uring's `addr2`), `len` = the mask.

use super::{Context, Started};
use crate::mm::pin::{Access, PinnedBuffer, read_c_string};
use crate::proc::handles::{Handle, OpenFile};
use abi::file::{self, Statx};
use abi::{Errno, Sqe};
use alloc::string::String;
use alloc::sync::Arc;

/// The longest path, as Linux's `PATH_MAX` (NUL included).
const PATH_MAX: usize = 4096;

fn path_at(context: &Context, addr: u64) -> Result<String, Errno> {
    let bytes = context
        .process
        .with_space_mut(|space| read_c_string(space, addr, PATH_MAX - 1))
        .ok_or(Errno::ESRCH)??;
    String::from_utf8(bytes).map_err(|_| Errno::EINVAL)
}

fn lookup(path: &str) -> Result<crate::fs::Entry<'static>, Errno> {
    let archive = crate::fs::initfs::get().ok_or(Errno::ENOENT)?;
    archive.lookup(path).map_err(|error| error.errno())
}

pub fn openat(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        if sqe.fd != file::AT_FDCWD {
            return Err(Errno::EBADF);
        }
        let flags = sqe.op_flags;
        if flags & file::O_ACCMODE != file::O_RDONLY
            || flags & (file::O_CREAT | file::O_TRUNC | file::O_APPEND) != 0
        {
            return Err(Errno::EROFS);
        }
        let entry = lookup(&path_at(context, sqe.addr)?)?;
        if flags & file::O_DIRECTORY != 0 && entry.kind != crate::fs::EntryKind::Directory {
            return Err(Errno::ENOTDIR);
        }
        let open = Arc::new(OpenFile {
            entry,
            position: spin::Mutex::new(0),
        });
        let handle = context.process.handles.lock().insert(Handle::File(open))?;
        Ok(handle as u32)
    })();
    result.into()
}

pub fn close(sqe: &Sqe, context: &Context) -> Started {
    let result = context
        .process
        .handles
        .lock()
        .remove(sqe.fd)
        .map(|_| 0)
        .ok_or(Errno::EBADF);
    result.into()
}

pub fn statx(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        if sqe.fd != file::AT_FDCWD {
            return Err(Errno::EBADF);
        }
        let entry = lookup(&path_at(context, sqe.addr)?)?;
        let kind = match entry.kind {
            crate::fs::EntryKind::Directory => file::S_IFDIR,
            crate::fs::EntryKind::Symlink => file::S_IFLNK,
            _ => file::S_IFREG,
        };
        let statx = Statx {
            stx_mask: file::STATX_TYPE
                | file::STATX_MODE
                | file::STATX_NLINK
                | file::STATX_INO
                | file::STATX_SIZE
                | file::STATX_BLOCKS,
            stx_blksize: 4096,
            stx_nlink: 1,
            stx_mode: kind | (entry.mode & 0o7777) as u16,
            stx_ino: u64::from(entry.ino),
            stx_size: entry.size_bytes,
            stx_blocks: entry.size_bytes.div_ceil(512),
            ..Statx::default()
        };
        let bytes = statx.to_bytes();
        context
            .process
            .with_space_mut(|space| {
                PinnedBuffer::new(space, sqe.off, bytes.len() as u64, Access::Write)
                    .map(|buffer| buffer.write_from(&bytes))
            })
            .ok_or(Errno::ESRCH)??;
        Ok(0)
    })();
    result.into()
}
