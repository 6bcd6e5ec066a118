//! Threads of this process, through the ring.
//!
//! A thread's entry is an `extern "C" fn(argument, index) -> !` that ends
//! with [`exit`].  The process's ring is shared: a program with threads
//! serializes its ring use itself.

use crate::process::run_one;
use crate::ring::Ring;
use abi::{Errno, Opcode, Sqe};

/// A thread's entry point: `(argument, thread index)`.
pub type Entry = extern "C" fn(u64, u64) -> !;

/// Starts a thread at `entry` on a kernel-provided stack; returns a handle
/// that [`join`] waits on.
pub fn spawn(ring: &mut Ring, entry: Entry, argument: u64) -> Result<i32, Errno> {
    let sqe = Sqe {
        addr: entry as usize as u64,
        addr3: argument,
        ..Sqe::new(Opcode::ThreadSpawn)
    };
    run_one(ring, sqe, u64::MAX - 8).map(|handle| handle as i32)
}

/// Waits until the thread behind `handle` has ended, and releases the handle.
pub fn join(ring: &mut Ring, handle: i32) -> Result<(), Errno> {
    run_one(
        ring,
        Sqe {
            fd: handle,
            ..Sqe::new(Opcode::Wait)
        },
        u64::MAX - 9,
    )
    .map(|_| ())
}

/// Ends the calling thread.
pub fn exit() -> ! {
    crate::syscall::exit_thread(0)
}

/// Like [`join`], on a shared ring as thread `me` (blocking without the
/// ring's lock).
pub fn join_shared(ring: &crate::sync::Mutex<Ring>, handle: i32, me: u16) -> Result<(), Errno> {
    crate::ring::call(
        ring,
        &Sqe {
            fd: handle,
            ..Sqe::new(Opcode::Wait)
        },
        me,
    )
    .map(|_| ())
}

/// Sleeps `ns` nanoseconds on a shared ring as thread `me`.
pub fn sleep(ring: &crate::sync::Mutex<Ring>, ns: u64, me: u16) {
    let spec = abi::Timespec::from_ns(ns);
    let sqe = Sqe {
        addr: &spec as *const abi::Timespec as u64,
        len: 1,
        ..Sqe::new(Opcode::Timeout)
    };
    // The kernel reads the timespec when the op starts, inside the call.
    let _ = crate::ring::call(ring, &sqe, me);
}
