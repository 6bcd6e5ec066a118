//! Files of the initfs, through the ring: open, read, close, statx.

use crate::process::run_one;
use crate::ring::Ring;
use abi::file::{AT_FDCWD, O_RDONLY, STATX_BASIC_STATS};
use abi::{Errno, Opcode, Sqe};

/// Opens `path` (NUL-terminated) for reading; returns a handle.
pub fn open(ring: &mut Ring, path: &core::ffi::CStr) -> Result<i32, Errno> {
    let sqe = Sqe {
        fd: AT_FDCWD,
        addr: path.as_ptr() as u64,
        op_flags: O_RDONLY,
        ..Sqe::new(Opcode::OpenAt)
    };
    run_one(ring, sqe, u64::MAX - 3).map(|handle| handle as i32)
}

/// Reads up to `buffer.len()` bytes at the file's position.
pub fn read(ring: &mut Ring, handle: i32, buffer: &mut [u8]) -> Result<usize, Errno> {
    let sqe = Sqe {
        fd: handle,
        addr: buffer.as_mut_ptr() as u64,
        len: u32::try_from(buffer.len()).unwrap_or(u32::MAX),
        off: u64::MAX,
        ..Sqe::new(Opcode::Read)
    };
    run_one(ring, sqe, u64::MAX - 4).map(|n| n as usize)
}

/// Closes a handle.
pub fn close(ring: &mut Ring, handle: i32) -> Result<(), Errno> {
    run_one(
        ring,
        Sqe {
            fd: handle,
            ..Sqe::new(Opcode::Close)
        },
        u64::MAX - 5,
    )
    .map(|_| ())
}

/// Linux's `struct statx` for `path`.
pub fn statx(ring: &mut Ring, path: &core::ffi::CStr) -> Result<abi::file::Statx, Errno> {
    let mut out = abi::file::Statx::default();
    let sqe = Sqe {
        fd: AT_FDCWD,
        addr: path.as_ptr() as u64,
        off: &mut out as *mut abi::file::Statx as u64,
        len: STATX_BASIC_STATS,
        ..Sqe::new(Opcode::Statx)
    };
    run_one(ring, sqe, u64::MAX - 6)?;
    Ok(out)
}
