//! The ops as futures, on a [`Handle`]: the raw [`Handle::op`] and
//! [`Handle::op_with`], and the common ones with their results decoded.
//!
//! Each returns an [`Op`], submitted already.  Memory the kernel reads or
//! writes travels inside the op (a `Vec`, a boxed `Timespec`) and comes
//! back with the result, as in tokio-uring: no borrowed buffer can be
//! freed under the kernel (see [`super::op`]).
#![forbid(unsafe_code)]

use super::{Handle, Op};
use crate::ring::result;
use abi::file::{AT_FDCWD, O_RDONLY};
use abi::{Cqe, Errno, Opcode, Sqe, Timespec};
use alloc::vec::Vec;

/// A byte count, and the buffer back.
pub type BufResult = (Result<usize, Errno>, Vec<u8>);

/// `off` for "the current position".
const CURRENT_POSITION: u64 = u64::MAX;

impl Handle {
    /// Submits `sqe` as it is (its `user_data` is replaced).  For SQEs that
    /// name no memory, or only memory that outlives the op whatever
    /// happens (`'static`): memory the op must keep goes to
    /// [`Handle::op_with`].
    pub fn op(&self, sqe: Sqe) -> Op<()> {
        Op::submit(self.clone(), (), |_| sqe, |cqe, ()| (cqe, ()))
    }

    /// Submits the SQE `build` makes from `buffers`, which the op keeps
    /// (boxed, so at a fixed address) until the kernel is done with them.
    pub fn op_with<B: 'static>(&self, buffers: B, build: impl FnOnce(&mut B) -> Sqe) -> Op<B> {
        Op::submit(self.clone(), buffers, build, |cqe, buffers| (cqe, buffers))
    }

    /// A NOP: the cheapest round trip through the ring.
    pub fn nop(&self) -> Op<(), Result<u32, Errno>> {
        Op::submit(
            self.clone(),
            (),
            |_| Sqe::new(Opcode::Nop),
            |cqe, ()| result(&cqe),
        )
    }

    /// A TIMEOUT of `duration_ns`: `Ok` when it expired (the kernel's
    /// `-ETIME`), an errno otherwise (`ECANCELED` if cancelled).
    pub fn sleep(&self, duration_ns: u64) -> Op<Timespec, Result<(), Errno>> {
        Op::submit(
            self.clone(),
            Timespec::from_ns(duration_ns),
            |spec| Sqe {
                addr: spec as *mut Timespec as u64,
                len: 1,
                ..Sqe::new(Opcode::Timeout)
            },
            |cqe, _| match result(&cqe) {
                Err(Errno::ETIME) => Ok(()),
                Err(errno) => Err(errno),
                // A pure timer only ends by expiring or being cancelled.
                Ok(_) => Err(Errno::EINVAL),
            },
        )
    }

    /// Reads up to `buffer.len()` bytes at the handle's position into
    /// `buffer`; the count says how many arrived (0: end of file).
    pub fn read(&self, fd: i32, buffer: Vec<u8>) -> Op<Vec<u8>, BufResult> {
        self.transfer(Opcode::Read, fd, buffer)
    }

    /// Writes `bytes` to `fd` (1 and 2: the console).
    pub fn write(&self, fd: i32, bytes: impl Into<Vec<u8>>) -> Op<Vec<u8>, BufResult> {
        self.transfer(Opcode::Write, fd, bytes.into())
    }

    fn transfer(&self, opcode: Opcode, fd: i32, buffer: Vec<u8>) -> Op<Vec<u8>, BufResult> {
        Op::submit(
            self.clone(),
            buffer,
            |buffer| Sqe {
                fd,
                addr: buffer.as_mut_ptr() as u64,
                len: u32::try_from(buffer.len()).unwrap_or(u32::MAX),
                off: CURRENT_POSITION,
                ..Sqe::new(opcode)
            },
            |cqe, buffer| (result(&cqe).map(|count| count as usize), buffer),
        )
    }

    /// Opens the initfs file at `path` for reading; yields its handle.
    pub fn open(&self, path: &str) -> Op<Vec<u8>, Result<i32, Errno>> {
        let mut name = Vec::with_capacity(path.len() + 1);
        name.extend_from_slice(path.as_bytes());
        name.push(0);
        Op::submit(
            self.clone(),
            name,
            |name| Sqe {
                fd: AT_FDCWD,
                addr: name.as_ptr() as u64,
                op_flags: O_RDONLY,
                ..Sqe::new(Opcode::OpenAt)
            },
            |cqe: Cqe, _| result(&cqe).map(|handle| handle as i32),
        )
    }

    /// Closes a handle.
    pub fn close(&self, fd: i32) -> Op<(), Result<(), Errno>> {
        Op::submit(
            self.clone(),
            (),
            |_| Sqe {
                fd,
                ..Sqe::new(Opcode::Close)
            },
            |cqe, ()| result(&cqe).map(|_| ()),
        )
    }
}
