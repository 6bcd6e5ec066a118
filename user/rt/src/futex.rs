//! Futexes, for programs with threads sharing the process's ring.
//!
//! A wait is a FUTEX_WAIT whose result is delivered to the waiting thread
//! (`personality`), collected with `ring_enter(.., WAIT_DELIVERED)`: the
//! ring's lock is held only to queue the SQE, never while blocked, and no
//! CQE is used, so any number of threads can wait at once.

use crate::ring::Ring;
use crate::sync::Mutex;
use abi::file::{FUTEX_BITSET_MATCH_ANY, FUTEX2_PRIVATE, FUTEX2_SIZE_U32};
use abi::{Errno, Opcode, Sqe};
use core::sync::atomic::AtomicU32;

fn futex_sqe(opcode: Opcode, word: &AtomicU32, value: u64) -> Sqe {
    Sqe {
        fd: FUTEX2_SIZE_U32 | FUTEX2_PRIVATE,
        addr: word.as_ptr() as u64,
        off: value,
        addr3: FUTEX_BITSET_MATCH_ANY,
        ..Sqe::new(opcode)
    }
}

/// Blocks thread `me` (its index) while `*word == expected`.  `Ok` when
/// woken, `EAGAIN` if the word had changed already.
pub fn wait(ring: &Mutex<Ring>, word: &AtomicU32, expected: u32, me: u16) -> Result<(), Errno> {
    crate::ring::call(
        ring,
        &futex_sqe(Opcode::FutexWait, word, u64::from(expected)),
        me,
    )
    .map(|_| ())
}

/// Wakes up to `count` threads waiting on `word`, as thread `me`;
/// returns how many.
pub fn wake(ring: &Mutex<Ring>, word: &AtomicU32, count: u32, me: u16) -> Result<u32, Errno> {
    crate::ring::call(
        ring,
        &futex_sqe(Opcode::FutexWake, word, u64::from(count)),
        me,
    )
}
