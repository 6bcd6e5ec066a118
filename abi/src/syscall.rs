//! Trap numbers.  The kernel has two traps (DESIGN.md section 5):
//! `ring_enter` and `exit`; everything else is an opcode in a ring.
#![forbid(unsafe_code)]

/// `exit`'s second argument (RSI): end only the calling thread.  Zero ends
/// the whole process.
pub const EXIT_THREAD: u64 = 1;

/// A system call number, passed in RAX to the `syscall` instruction.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syscall {
    /// `ring_enter(ring, to_submit, min_complete, flags)`: takes at most
    /// `to_submit` SQEs, and never more than the SQ holds in one call.
    RingEnter = 0,
    /// `exit(status, scope)`: ends the calling thread's process, or with
    /// `scope` = [`EXIT_THREAD`] only the calling thread (the process ends
    /// with its last thread).
    Exit = 1,
}

impl Syscall {
    /// Decodes a raw trap number; `None` for numbers the kernel does not know.
    pub const fn from_raw(raw: u64) -> Option<Self> {
        match raw {
            0 => Some(Self::RingEnter),
            1 => Some(Self::Exit),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_numbers_round_trip() {
        for call in [Syscall::RingEnter, Syscall::Exit] {
            assert_eq!(Syscall::from_raw(call as u64), Some(call));
        }
        assert_eq!(Syscall::from_raw(2), None);
        assert_eq!(Syscall::from_raw(u64::MAX), None);
    }
}
