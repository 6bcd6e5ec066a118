//! The submission-queue entry: one request from a user program to the
//! kernel, 64 bytes in io_uring's field order.
//!
//! [`Sqe`] is plain data.  It crosses the user/kernel boundary only as a copy
//! (see `ring::RawRing::read_sqe`): the kernel decodes [`Sqe::op`] and
//! [`Sqe::sqe_flags`] from its own copy, never from shared memory.  What each
//! field means for each opcode is tabled in [`crate::opcode`].
#![forbid(unsafe_code)]

use core::mem::{offset_of, size_of};

use crate::{Errno, Opcode, SqeFlags};

/// A submission-queue entry, laid out exactly as io_uring's `io_uring_sqe`.
///
/// ```text
///  0       1       2               4                               8
///  +-------+-------+---------------+-------------------------------+
///  |opcode | flags |    ioprio     |              fd               |
///  +-------+-------+---------------+-------------------------------+
///  8  off (file offset, or a second address)                       16
///  16 addr                                                         24
///  24 len                          | op_flags                      32
///  32 user_data                                                    40
///  40 buf_index    | personality   | splice_fd_in                  48
///  48 addr3                                                        56
///  56 pad (must be zero)                                           64
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sqe {
    /// The operation, an [`Opcode`] value.
    pub opcode: u8,
    /// [`SqeFlags`] bits.
    pub flags: u8,
    /// io_uring's request priority; ops may reuse it as a second flag word.
    pub ioprio: u16,
    /// A handle, or an op-specific integer.
    pub fd: i32,
    /// A file offset, or a second address/value (io_uring's `addr2`).
    pub off: u64,
    /// A user address: buffer, path, argument block.
    pub addr: u64,
    /// A length in bytes, or an op-specific count.
    pub len: u32,
    /// Op-specific flags (io_uring's `rw_flags`, `open_flags`, ... union).
    pub op_flags: u32,
    /// Opaque to the kernel; copied into the completion.
    pub user_data: u64,
    /// io_uring's fixed-buffer index / buffer group.  Unused here: zero.
    pub buf_index: u16,
    /// io_uring's credentials id.  Unused here: zero.
    pub personality: u16,
    /// io_uring's `splice_fd_in` / `file_index`.  Op-specific.
    pub splice_fd_in: i32,
    /// A third address or value.
    pub addr3: u64,
    /// Reserved; must be zero so that it can gain a meaning later.
    pub pad: u64,
}

const _: () = {
    assert!(size_of::<Sqe>() == 64);
    assert!(core::mem::align_of::<Sqe>() == 8);
    assert!(offset_of!(Sqe, opcode) == 0);
    assert!(offset_of!(Sqe, flags) == 1);
    assert!(offset_of!(Sqe, ioprio) == 2);
    assert!(offset_of!(Sqe, fd) == 4);
    assert!(offset_of!(Sqe, off) == 8);
    assert!(offset_of!(Sqe, addr) == 16);
    assert!(offset_of!(Sqe, len) == 24);
    assert!(offset_of!(Sqe, op_flags) == 28);
    assert!(offset_of!(Sqe, user_data) == 32);
    assert!(offset_of!(Sqe, buf_index) == 40);
    assert!(offset_of!(Sqe, personality) == 42);
    assert!(offset_of!(Sqe, splice_fd_in) == 44);
    assert!(offset_of!(Sqe, addr3) == 48);
    assert!(offset_of!(Sqe, pad) == 56);
};

/// `personality` of an SQE whose result goes to thread `index` of the
/// submitting process instead of the CQ (this kernel's own use of the
/// field: io_uring's credentials do not exist here).  That thread collects
/// it with `ring_enter(.., EnterFlags::WAIT_DELIVERED)`.
pub const fn deliver_to_thread(index: u16) -> u16 {
    index + 1
}

impl Sqe {
    /// The entry size in bytes.
    pub const SIZE: usize = size_of::<Sqe>();
    /// The entry size in 64-bit words, the unit the ring copies in.
    pub const WORDS: usize = Self::SIZE / 8;

    /// An all-zero entry for `op`: every field the op does not use stays 0.
    pub const fn new(op: Opcode) -> Self {
        Sqe {
            opcode: op as u8,
            flags: 0,
            ioprio: 0,
            fd: 0,
            off: 0,
            addr: 0,
            len: 0,
            op_flags: 0,
            user_data: 0,
            buf_index: 0,
            personality: 0,
            splice_fd_in: 0,
            addr3: 0,
            pad: 0,
        }
    }

    /// The operation; `EINVAL` for an opcode this ABI does not define
    /// (what io_uring answers too).
    pub const fn op(&self) -> Result<Opcode, Errno> {
        match Opcode::from_raw(self.opcode) {
            Some(op) => Ok(op),
            None => Err(Errno::EINVAL),
        }
    }

    /// The flags, checked against what the kernel implements
    /// ([`SqeFlags::validate`]).
    pub fn sqe_flags(&self) -> Result<SqeFlags, Errno> {
        SqeFlags::validate(self.flags)
    }

    /// The entry as 64-bit words, the form the ring stores: each word holds
    /// the fields at its eight bytes, little-endian (x86_64's only order).
    pub fn to_words(&self) -> [u64; Self::WORDS] {
        [
            u64::from(self.opcode)
                | u64::from(self.flags) << 8
                | u64::from(self.ioprio) << 16
                | u64::from(self.fd as u32) << 32,
            self.off,
            self.addr,
            u64::from(self.len) | u64::from(self.op_flags) << 32,
            self.user_data,
            u64::from(self.buf_index)
                | u64::from(self.personality) << 16
                | u64::from(self.splice_fd_in as u32) << 32,
            self.addr3,
            self.pad,
        ]
    }

    /// Rebuilds an entry from [`Sqe::to_words`] form.  Every bit pattern is
    /// a valid `Sqe`; meaning is checked later, on the copy.
    pub fn from_words(words: [u64; Self::WORDS]) -> Self {
        Sqe {
            opcode: words[0] as u8,
            flags: (words[0] >> 8) as u8,
            ioprio: (words[0] >> 16) as u16,
            fd: (words[0] >> 32) as u32 as i32,
            off: words[1],
            addr: words[2],
            len: words[3] as u32,
            op_flags: (words[3] >> 32) as u32,
            user_data: words[4],
            buf_index: words[5] as u16,
            personality: (words[5] >> 16) as u16,
            splice_fd_in: (words[5] >> 32) as u32 as i32,
            addr3: words[6],
            pad: words[7],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// io_uring's `struct io_uring_sqe` offsets (include/uapi/linux/io_uring.h).
    #[test]
    fn layout_matches_io_uring() {
        assert_eq!(size_of::<Sqe>(), 64);
        let expected = [
            (offset_of!(Sqe, opcode), 0),
            (offset_of!(Sqe, flags), 1),
            (offset_of!(Sqe, ioprio), 2),
            (offset_of!(Sqe, fd), 4),
            (offset_of!(Sqe, off), 8),
            (offset_of!(Sqe, addr), 16),
            (offset_of!(Sqe, len), 24),
            (offset_of!(Sqe, op_flags), 28),
            (offset_of!(Sqe, user_data), 32),
            (offset_of!(Sqe, buf_index), 40),
            (offset_of!(Sqe, personality), 42),
            (offset_of!(Sqe, splice_fd_in), 44),
            (offset_of!(Sqe, addr3), 48),
            (offset_of!(Sqe, pad), 56),
        ];
        for (actual, io_uring) in expected {
            assert_eq!(actual, io_uring);
        }
    }

    #[test]
    fn words_round_trip_every_field() {
        let sqe = Sqe {
            opcode: 0x11,
            flags: 0x22,
            ioprio: 0x3344,
            fd: -5,
            off: 0x0102_0304_0506_0708,
            addr: 0x1112_1314_1516_1718,
            len: 0x2122_2324,
            op_flags: 0x3132_3334,
            user_data: 0x4142_4344_4546_4748,
            buf_index: 0x5152,
            personality: 0x6162,
            splice_fd_in: -0x7172_7374,
            addr3: 0x8182_8384_8586_8788,
            pad: 0x9192_9394_9596_9798,
        };
        let words = sqe.to_words();
        assert_eq!(Sqe::from_words(words), sqe);
        // The word image is the in-memory image: field at offset 8 is word 1.
        assert_eq!(words[1], sqe.off);
        assert_eq!(words[4], sqe.user_data);
        assert_eq!(words[7], sqe.pad);
    }

    #[test]
    fn op_and_flags_decode_from_the_copy() {
        let mut sqe = Sqe::new(Opcode::Read);
        assert_eq!(sqe.opcode, 22);
        assert_eq!(sqe.op(), Ok(Opcode::Read));
        sqe.opcode = 200;
        assert_eq!(sqe.op(), Err(Errno::EINVAL));
        sqe.flags = SqeFlags::IO_LINK.bits();
        assert_eq!(sqe.sqe_flags(), Ok(SqeFlags::IO_LINK));
        sqe.flags = SqeFlags::FIXED_FILE.bits();
        assert_eq!(sqe.sqe_flags(), Err(Errno::EINVAL));
    }
}
