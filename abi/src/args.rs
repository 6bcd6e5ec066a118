//! Argument structures that SQEs point at, in user memory.
//!
//! Only what more than one op needs lives here; an op's private block is
//! defined next to the op's implementation once it settles.
#![forbid(unsafe_code)]

use core::mem::{offset_of, size_of};

/// A time value, Linux's `struct __kernel_timespec`: what `TIMEOUT` and
/// `LINK_TIMEOUT` read at `addr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timespec {
    /// Whole seconds.
    pub tv_sec: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub tv_nsec: i64,
}

const _: () = {
    assert!(size_of::<Timespec>() == 16);
    assert!(offset_of!(Timespec, tv_sec) == 0);
    assert!(offset_of!(Timespec, tv_nsec) == 8);
};

impl Timespec {
    const NS_PER_SEC: u64 = 1_000_000_000;

    /// A duration in nanoseconds.
    pub const fn from_ns(duration_ns: u64) -> Self {
        Timespec {
            tv_sec: (duration_ns / Self::NS_PER_SEC) as i64,
            tv_nsec: (duration_ns % Self::NS_PER_SEC) as i64,
        }
    }

    /// The value in nanoseconds; `None` if it is negative, has an
    /// out-of-range `tv_nsec`, or does not fit in `u64`.
    pub const fn to_ns(self) -> Option<u64> {
        if self.tv_sec < 0 || self.tv_nsec < 0 || self.tv_nsec >= Self::NS_PER_SEC as i64 {
            return None;
        }
        match (self.tv_sec as u64).checked_mul(Self::NS_PER_SEC) {
            Some(ns) => ns.checked_add(self.tv_nsec as u64),
            None => None,
        }
    }
}

/// What `PROCESS_SPAWN` reads at `addr3` when it is not 0: which of the
/// caller's handles the child gets as its standard input, output and error
/// (handles 0, 1 and 2).  With `addr3` = 0 the child gets the caller's own
/// 0, 1 and 2.  A handle may be named more than once.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SpawnStdio {
    /// The caller's handles for the child's 0, 1 and 2, in that order.
    pub handles: [i32; 3],
    /// Must be zero.
    pub reserved: i32,
}

const _: () = {
    assert!(size_of::<SpawnStdio>() == 16);
    assert!(offset_of!(SpawnStdio, reserved) == 12);
};

impl SpawnStdio {
    pub const BYTES: usize = size_of::<Self>();

    /// The block as it lies in memory (little-endian).
    pub fn to_bytes(self) -> [u8; Self::BYTES] {
        let mut bytes = [0u8; Self::BYTES];
        let words = [
            self.handles[0],
            self.handles[1],
            self.handles[2],
            self.reserved,
        ];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    /// The block from its bytes.
    pub fn from_bytes(bytes: [u8; Self::BYTES]) -> Self {
        let word = |index: usize| {
            i32::from_le_bytes([
                bytes[4 * index],
                bytes[4 * index + 1],
                bytes[4 * index + 2],
                bytes[4 * index + 3],
            ])
        };
        Self {
            handles: [word(0), word(1), word(2)],
            reserved: word(3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_stdio_round_trips_through_its_bytes() {
        let block = SpawnStdio {
            handles: [5, -1, 2],
            reserved: 7,
        };
        let bytes = block.to_bytes();
        assert_eq!(&bytes[..4], &5i32.to_le_bytes());
        assert_eq!(&bytes[4..8], &(-1i32).to_le_bytes());
        assert_eq!(SpawnStdio::from_bytes(bytes), block);
    }

    #[test]
    fn nanoseconds_round_trip_and_bad_values_are_refused() {
        let t = Timespec::from_ns(2_500_000_001);
        assert_eq!((t.tv_sec, t.tv_nsec), (2, 500_000_001));
        assert_eq!(t.to_ns(), Some(2_500_000_001));
        assert_eq!(Timespec::from_ns(u64::MAX).to_ns(), Some(u64::MAX));
        let bad_ns = Timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000_000,
        };
        assert_eq!(bad_ns.to_ns(), None);
        assert_eq!(
            Timespec {
                tv_sec: -1,
                tv_nsec: 0
            }
            .to_ns(),
            None
        );
        assert_eq!(
            Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0
            }
            .to_ns(),
            None
        );
    }
}
