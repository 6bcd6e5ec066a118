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

#[cfg(test)]
mod tests {
    use super::*;

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
