//! Futexes, for programs with threads sharing the process's ring.
//!
//! A wait is a FUTEX_WAIT whose result is delivered to the waiting thread
//! (`personality`), collected with `ring_enter(.., WAIT_DELIVERED)`: the
//! ring's lock is held only to queue the SQE, never while blocked, and no
//! CQE is used, so any number of threads can wait at once.

use crate::prep::{futex_wait, futex_wake};
use crate::ring::Ring;
use crate::sync::Mutex;
use abi::Errno;
use core::sync::atomic::AtomicU32;

/// Blocks thread `me` (its index) while `*word == expected`.  `Ok` when
/// woken, `EAGAIN` if the word had changed already.
pub fn wait(ring: &Mutex<Ring>, word: &AtomicU32, expected: u32, me: u16) -> Result<(), Errno> {
    crate::ring::call(ring, &futex_wait(word, expected), me).map(|_| ())
}

/// Wakes up to `count` threads waiting on `word`, as thread `me`;
/// returns how many.
pub fn wake(ring: &Mutex<Ring>, word: &AtomicU32, count: u32, me: u16) -> Result<u32, Errno> {
    crate::ring::call(ring, &futex_wake(word, count), me)
}
