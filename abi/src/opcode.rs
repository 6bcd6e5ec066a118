//! Opcodes: what an [`crate::Sqe`] asks for, and which of its fields carry
//! what.
//!
//! Ops io_uring also has keep io_uring's number and field usage, so liburing
//! habits carry over.  The kernel's own ops live from 128 up
//! ([`Opcode::PRIVATE_BASE`]), far above io_uring's range (62 at the time of
//! writing), so the two can never collide.
//!
//! Fields the table does not name must be zero (`EINVAL` otherwise), which
//! keeps them free for later use.  Addresses are user virtual addresses; the
//! kernel pins what they name for the life of the op.  A `res` below zero is
//! always a negated errno.  Once free memory is down to the kernel's
//! reserve, every op that would leave kernel memory behind (all but `NOP`,
//! `ASYNC_CANCEL`, `CLOSE`, `STATX`, `MUNMAP`, `FUTEX_WAKE`, `VM_QUERY` and
//! `MEM_STATS`) ends `-ENOMEM` without starting.  *P* marks a provisional definition that may change
//! while the kernel side is built.
//!
//! | op | # | fd | off | addr | len | op_flags | other | `res` on success |
//! |---|---|---|---|---|---|---|---|---|
//! | `NOP` | 0 | | | | | | | 0 |
//! | `TIMEOUT` | 11 | | completions to wait for (0: pure timer) | `*const Timespec` | 1 | `TimeoutFlags` | | 0 when `off` completions arrived; `-ETIME` when it expired |
//! | `ASYNC_CANCEL` | 14 | | | target's `user_data` | | 0 | | 0 (`-ENOENT` none found, `-EALREADY` past cancelling) |
//! | `LINK_TIMEOUT` | 15 | | 0 | `*const Timespec` | 1 | `TimeoutFlags` | follows an `IO_LINK` SQE | `-ETIME` fired (the linked op ends `-ECANCELED`); `-ECANCELED` the linked op finished first |
//! | `OPENAT` | 18 | dir handle (`AT_FDCWD` = -100) | | NUL-terminated path (<= 4096 bytes) | mode | `O_*` flags | | new handle |
//! | `CLOSE` | 19 | handle | | | | | | 0 |
//! | `STATX` | 21 | dir handle | `*mut statx` (io_uring's `addr2`) | NUL-terminated path | `STATX_*` mask | `AT_*` flags | | 0 |
//! | `READ` | 22 | handle | file offset (`u64::MAX`: current position) | buffer | bytes | 0 | | bytes read (0: end of file) |
//! | `WRITE` | 23 | handle | file offset (`u64::MAX`: current position) | buffer | bytes | 0 | | bytes written |
//! | `MSG_RING` | 40 | target ring handle | `user_data` for the target CQE | 0 (io_uring's `IORING_MSG_DATA`) | `res` for the target CQE | 0 | | 0; the target ring gets a CQE `{off, len as i32, 0}`; `-EOVERFLOW` when its overflow list is full (4,096 CQEs nobody reaped) |
//! | `FUTEX_WAIT` | 51 | futex2 flags: `FUTEX2_SIZE_U32` (2), optionally \| `FUTEX2_PRIVATE` (128) | expected value | `*const u32`, 4-aligned | 0 | 0 | `addr3` = bitset mask (`u32::MAX`: any) | 0 when woken; `-EAGAIN` the word differed |
//! | `FUTEX_WAKE` | 52 | futex2 flags, as above | max waiters to wake | `*const u32`, 4-aligned | 0 | 0 | `addr3` = bitset mask | waiters woken |
//! | `PIPE` | 62 | | | `*mut [i32; 2]`: receives (read, write) handles | | `O_CLOEXEC` or 0 | | 0 |
//! | `MMAP` *P* | 128 | file handle, or -1 with `MAP_ANONYMOUS` | page-aligned file offset (0 for anonymous) | hint, or exact address with `MAP_FIXED` | bytes | `MapFlags` | `ioprio` = `ProtFlags`; `addr3` = `*mut u64` receiving the address | 0 |
//! | `MUNMAP` *P* | 129 | | | page-aligned address | bytes | 0 | | 0 |
//! | `MPROTECT` *P* | 130 | | | page-aligned address | bytes | `ProtFlags` | | 0 |
//! | `THREAD_SPAWN` *P* | 131 | | stack top (16-aligned, in a `MAP_STACK` region) | entry point | | 0 | `addr3` = argument, passed in `rdi` | thread handle |
//! | `PROCESS_SPAWN` *P* | 132 | | argv block: NUL-terminated strings back to back | executable path (not NUL-terminated) | path bytes | argv block bytes | `addr3` = `*const SpawnStdio` (0: the caller's 0, 1, 2) | child handle |
//! | `WAIT` *P* | 133 | child handle | | | | 0 | | Linux wait status: `(code & 0xff) << 8` on exit, the fault's signal number (`SIGSEGV` 11, ...) if killed |
//! | `VM_QUERY` *P* | 134 | | | output buffer | buffer bytes | 0 | | bytes written: the caller's regions as `file::VmRegion` records, in address order, as many as fit |
//! | `MEM_STATS` *P* | 135 | | | output buffer | buffer bytes | 0 | | bytes written: resident, dirty-private, pinned bytes, ... |
//! | `SPACE_CLONE` | 136 | -1 (the caller's space) | the child's RSP, exactly (inside a stack region) | the child's entry point | 0 | 0 | `addr3` = the child's RDI | child handle: a process on a copy-on-write image of the caller's space, with a fresh ring at the same address and a copy of the caller's handles (fork's first half; the runtime's `fork` is the rest) |
//! | `REMAP_PAGES` | 137 | -1 (the caller's space) | page-aligned file offset the pages show from now on | page-aligned address inside one shared file mapping | bytes | `ProtFlags` of those pages (not writable) | | 0; the region becomes nonlinear (each page its own file page and protection) without splitting |
//!
//! Where a result does not fit `res`, it goes through a pointer: `MMAP`'s
//! address is 64-bit, so the kernel stores it at `addr3`.
#![forbid(unsafe_code)]

macro_rules! opcodes {
    ($($(#[$doc:meta])* $name:ident = $value:literal,)*) => {
        /// An operation a ring can carry.  The discriminant is the wire value.
        #[repr(u8)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Opcode {
            $($(#[$doc])* $name = $value,)*
        }

        impl Opcode {
            /// Every opcode, in ascending order.
            pub const ALL: &'static [Opcode] = &[$(Opcode::$name,)*];

            /// Decodes a wire value; `None` for values this ABI does not
            /// define.  One table load: it runs for every SQE.
            pub const fn from_raw(raw: u8) -> Option<Self> {
                Self::TABLE[raw as usize]
            }

            /// Every wire value's opcode, or `None`.
            const TABLE: [Option<Self>; 256] = {
                let mut table = [None; 256];
                $(table[$value] = Some(Self::$name);)*
                table
            };
        }
    };
}

opcodes! {
    /// Completes at once with `res` 0.
    Nop = 0,
    /// A timer, or a wait for some number of completions.
    Timeout = 11,
    /// Cancels an in-flight request by its `user_data`.
    AsyncCancel = 14,
    /// A timeout on the previous, linked request.
    LinkTimeout = 15,
    /// Opens a file relative to a directory handle.
    OpenAt = 18,
    /// Closes a handle.
    Close = 19,
    /// File status, Linux `struct statx`.
    Statx = 21,
    /// Reads into a buffer.
    Read = 22,
    /// Writes from a buffer.
    Write = 23,
    /// Posts a CQE to another ring.
    MsgRing = 40,
    /// Waits on a futex word.
    FutexWait = 51,
    /// Wakes futex waiters.
    FutexWake = 52,
    /// Creates a pipe.
    Pipe = 62,
    /// Maps memory (provisional).
    Mmap = 128,
    /// Unmaps memory (provisional).
    Munmap = 129,
    /// Changes protections (provisional).
    Mprotect = 130,
    /// Starts a thread in the caller's process (provisional).
    ThreadSpawn = 131,
    /// Starts a process from an initfs executable (provisional).
    ProcessSpawn = 132,
    /// Waits for a child process to end (provisional).
    Wait = 133,
    /// Lists the caller's memory regions (provisional).
    VmQuery = 134,
    /// Memory accounting for the caller (provisional).
    MemStats = 135,
    /// Creates a copy-on-write clone of an address space (provisional).
    SpaceClone = 136,
    /// Maps pages of the caller's space into a space (provisional).
    RemapPages = 137,
}

impl Opcode {
    /// The first value of the kernel's private range.  Values below are
    /// io_uring's.
    pub const PRIVATE_BASE: u8 = 128;

    /// Whether io_uring defines this op with the same number.
    pub const fn is_io_uring(self) -> bool {
        (self as u8) < Self::PRIVATE_BASE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `enum io_uring_op` values, checked against the io_uring uapi header.
    #[test]
    fn io_uring_numbers() {
        let expected = [
            (Opcode::Nop, 0),
            (Opcode::Timeout, 11),
            (Opcode::AsyncCancel, 14),
            (Opcode::LinkTimeout, 15),
            (Opcode::OpenAt, 18),
            (Opcode::Close, 19),
            (Opcode::Statx, 21),
            (Opcode::Read, 22),
            (Opcode::Write, 23),
            (Opcode::MsgRing, 40),
            (Opcode::FutexWait, 51),
            (Opcode::FutexWake, 52),
            (Opcode::Pipe, 62),
        ];
        for (op, value) in expected {
            assert_eq!(op as u8, value, "{op:?}");
            assert!(op.is_io_uring());
        }
    }

    #[test]
    fn every_value_round_trips_and_the_rest_are_unknown() {
        assert_eq!(Opcode::ALL.len(), 23);
        for raw in 0..=u8::MAX {
            match Opcode::from_raw(raw) {
                Some(op) => {
                    assert_eq!(op as u8, raw);
                    assert!(Opcode::ALL.contains(&op));
                }
                None => assert!(Opcode::ALL.iter().all(|&op| op as u8 != raw)),
            }
        }
        for &op in Opcode::ALL {
            assert_eq!(Opcode::from_raw(op as u8), Some(op));
        }
        for raw in [1, 10, 63, 127, 138, 255] {
            assert_eq!(Opcode::from_raw(raw), None, "{raw}");
        }
    }

    #[test]
    fn private_ops_sit_in_the_private_range() {
        let private = Opcode::ALL.iter().filter(|op| !op.is_io_uring());
        assert_eq!(private.clone().count(), 10);
        assert!(private.clone().all(|&op| op as u8 >= Opcode::PRIVATE_BASE));
        assert!(!Opcode::Mmap.is_io_uring());
        assert!(!Opcode::RemapPages.is_io_uring());
    }
}
