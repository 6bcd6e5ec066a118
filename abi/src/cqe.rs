//! The completion-queue entry: the kernel's answer to one [`crate::Sqe`],
//! 16 bytes as in io_uring.
//!
//! `res` is the op's result when non-negative and a negated Linux errno when
//! negative.  [`Cqe::result`] decodes it into a `Result` whose error is a
//! [`RawErrno`], so a value this ABI has no name for still arrives intact.
#![forbid(unsafe_code)]

use core::mem::{offset_of, size_of};

use crate::{CqeFlags, Errno, RawErrno};

/// A completion-queue entry, laid out exactly as io_uring's `io_uring_cqe`.
///
/// ```text
///  0                               8               12              16
///  +-------------------------------+---------------+---------------+
///  |           user_data           |      res      |     flags     |
///  +-------------------------------+---------------+---------------+
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cqe {
    /// The submitting SQE's `user_data`, unchanged.
    pub user_data: u64,
    /// The result (>= 0) or a negated errno (< 0).
    pub res: i32,
    /// [`CqeFlags`] bits.
    pub flags: u32,
}

const _: () = {
    assert!(size_of::<Cqe>() == 16);
    assert!(core::mem::align_of::<Cqe>() == 8);
    assert!(offset_of!(Cqe, user_data) == 0);
    assert!(offset_of!(Cqe, res) == 8);
    assert!(offset_of!(Cqe, flags) == 12);
};

impl Cqe {
    /// The entry size in bytes.
    pub const SIZE: usize = size_of::<Cqe>();
    /// The entry size in 64-bit words, the unit the ring copies in.
    pub const WORDS: usize = Self::SIZE / 8;

    /// A completion with a raw `res`.
    pub const fn new(user_data: u64, res: i32, flags: CqeFlags) -> Self {
        Cqe {
            user_data,
            res,
            flags: flags.bits(),
        }
    }

    /// A completion for an op's outcome.  A success value too large for
    /// `res` becomes `EOVERFLOW` rather than a negative number that would
    /// read as an errno.
    pub const fn from_result(user_data: u64, result: Result<u32, Errno>, flags: CqeFlags) -> Self {
        let res = match result {
            Ok(value) if value <= i32::MAX as u32 => value as i32,
            Ok(_) => Errno::EOVERFLOW.as_res(),
            Err(errno) => errno.as_res(),
        };
        Self::new(user_data, res, flags)
    }

    /// Decodes `res`: `Ok(value)` when non-negative, else the errno.  Never
    /// panics: an errno this ABI does not name (or `i32::MIN`) is kept raw.
    pub const fn result(&self) -> Result<u32, RawErrno> {
        if self.res >= 0 {
            Ok(self.res as u32)
        } else {
            Err(RawErrno::new(self.res.unsigned_abs()))
        }
    }

    /// The flags.  Unknown bits are kept: they may come from a newer kernel.
    pub const fn cqe_flags(&self) -> CqeFlags {
        CqeFlags::from_bits_retain(self.flags)
    }

    /// The entry as 64-bit words, the form the ring stores: `user_data`,
    /// then `res` in the low half and `flags` in the high half (little-endian,
    /// as the fields lie in memory).
    pub fn to_words(&self) -> [u64; Self::WORDS] {
        [
            self.user_data,
            u64::from(self.res as u32) | u64::from(self.flags) << 32,
        ]
    }

    /// Rebuilds an entry from [`Cqe::to_words`] form.
    pub fn from_words(words: [u64; Self::WORDS]) -> Self {
        Cqe {
            user_data: words[0],
            res: words[1] as u32 as i32,
            flags: (words[1] >> 32) as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// io_uring's `struct io_uring_cqe` (without the CQE32 tail).
    #[test]
    fn layout_matches_io_uring() {
        assert_eq!(size_of::<Cqe>(), 16);
        assert_eq!(offset_of!(Cqe, user_data), 0);
        assert_eq!(offset_of!(Cqe, res), 8);
        assert_eq!(offset_of!(Cqe, flags), 12);
    }

    #[test]
    fn result_decodes_success_and_errors() {
        let ok = Cqe::new(7, 4096, CqeFlags::empty());
        assert_eq!(ok.result(), Ok(4096));
        let max = Cqe::new(7, i32::MAX, CqeFlags::empty());
        assert_eq!(max.result(), Ok(i32::MAX as u32));

        let err = Cqe::new(7, -22, CqeFlags::empty());
        let raw = err.result().unwrap_err();
        assert_eq!(raw.known(), Some(Errno::EINVAL));
        assert_eq!(raw, Errno::EINVAL);
    }

    #[test]
    fn unknown_errnos_keep_their_value() {
        let err = Cqe::new(1, -4095, CqeFlags::empty()).result().unwrap_err();
        assert_eq!(err.get(), 4095);
        assert_eq!(err.known(), None);

        let min = Cqe::new(1, i32::MIN, CqeFlags::empty())
            .result()
            .unwrap_err();
        assert_eq!(min.get(), 1 << 31);
        assert_eq!(min.known(), None);
    }

    #[test]
    fn from_result_encodes_and_guards_overflow() {
        let ok = Cqe::from_result(3, Ok(12), CqeFlags::MORE);
        assert_eq!(
            (ok.user_data, ok.res, ok.flags),
            (3, 12, CqeFlags::MORE.bits())
        );
        let err = Cqe::from_result(3, Err(Errno::ENOENT), CqeFlags::empty());
        assert_eq!(err.res, -2);
        let big = Cqe::from_result(3, Ok(u32::MAX), CqeFlags::empty());
        assert_eq!(big.result().unwrap_err(), Errno::EOVERFLOW);
    }

    #[test]
    fn words_round_trip_and_flags_keep_unknown_bits() {
        let cqe = Cqe {
            user_data: 0x0102_0304_0506_0708,
            res: -0x1122_3344,
            flags: 0x8000_0002,
        };
        assert_eq!(Cqe::from_words(cqe.to_words()), cqe);
        assert_eq!(cqe.cqe_flags().bits(), 0x8000_0002);
        assert!(cqe.cqe_flags().contains(CqeFlags::MORE));
    }
}
