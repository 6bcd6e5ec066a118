//! Error numbers, with Linux's values so io_uring users read them unchanged.
//! A CQE carries one as a negative `res`.
//!
//! [`Errno`] is the one error type: every errno the kernel produces has a
//! name here.  [`RawErrno`] is what a *decoded* completion carries: any
//! positive value, named or not, so that a newer kernel's errno (or a bogus
//! `res`) reaches the program intact instead of being guessed at.
#![forbid(unsafe_code)]

macro_rules! errnos {
    ($($(#[$doc:meta])* $name:ident = $value:literal,)*) => {
        /// A Linux errno value.  The kernel's one error type.
        #[repr(i32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Errno {
            $($(#[$doc])* $name = $value,)*
        }

        impl Errno {
            /// Every errno this ABI defines, in ascending order.
            pub const ALL: &'static [Errno] = &[$(Errno::$name,)*];

            /// Decodes a positive errno value.
            pub const fn from_raw(raw: i32) -> Option<Self> {
                match raw {
                    $($value => Some(Self::$name),)*
                    _ => None,
                }
            }

            /// The symbolic name, e.g. `"EINVAL"`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)*
                }
            }
        }
    };
}

errnos! {
    /// Operation not permitted.
    EPERM = 1,
    /// No such file or directory.
    ENOENT = 2,
    /// No such process.
    ESRCH = 3,
    /// Interrupted.
    EINTR = 4,
    /// I/O error.
    EIO = 5,
    /// Argument list too long.
    E2BIG = 7,
    /// Executable format error.
    ENOEXEC = 8,
    /// Bad file descriptor.
    EBADF = 9,
    /// No child processes.
    ECHILD = 10,
    /// Try again.
    EAGAIN = 11,
    /// Out of memory.
    ENOMEM = 12,
    /// Permission denied.
    EACCES = 13,
    /// Bad address.
    EFAULT = 14,
    /// Device or resource busy.
    EBUSY = 16,
    /// File exists.
    EEXIST = 17,
    /// No such device.
    ENODEV = 19,
    /// Not a directory.
    ENOTDIR = 20,
    /// Is a directory.
    EISDIR = 21,
    /// Invalid argument.
    EINVAL = 22,
    /// Too many open files.
    EMFILE = 24,
    /// File too large.
    EFBIG = 27,
    /// No space left.
    ENOSPC = 28,
    /// Illegal seek.
    ESPIPE = 29,
    /// Read-only file system.
    EROFS = 30,
    /// Broken pipe.
    EPIPE = 32,
    /// Result out of range.
    ERANGE = 34,
    /// File name too long.
    ENAMETOOLONG = 36,
    /// Function not implemented.
    ENOSYS = 38,
    /// Value too large for the type.
    EOVERFLOW = 75,
    /// Operation not supported.
    EOPNOTSUPP = 95,
    /// Operation already in progress.
    EALREADY = 114,
    /// Operation canceled.
    ECANCELED = 125,
    /// Timer expired.
    ETIME = 62,
    /// Kernel-internal, never posted (Linux's value and meaning): the op
    /// could not start yet (a page of its buffer carries the most pins it
    /// may) and starts again once a pin goes.
    ERESTARTSYS = 512,
}

impl Errno {
    /// The value a CQE's `res` carries: the errno, negated.
    pub const fn as_res(self) -> i32 {
        -(self as i32)
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), *self as i32)
    }
}

/// An errno value as it came out of a completion: positive, possibly one
/// [`Errno`] does not name.  Compare it with an `Errno` directly
/// (`raw == Errno::ENOENT`), or name it with [`RawErrno::known`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RawErrno(u32);

impl RawErrno {
    /// Wraps a positive errno value.  `u32` because `-i32::MIN` is a
    /// possible (if meaningless) `res` and must not overflow.
    pub const fn new(value: u32) -> Self {
        RawErrno(value)
    }

    /// The errno value, positive.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The named errno, if this ABI defines the value.
    pub const fn known(self) -> Option<Errno> {
        if self.0 > i32::MAX as u32 {
            return None;
        }
        Errno::from_raw(self.0 as i32)
    }
}

impl From<Errno> for RawErrno {
    fn from(errno: Errno) -> Self {
        RawErrno(errno as i32 as u32)
    }
}

impl PartialEq<Errno> for RawErrno {
    fn eq(&self, other: &Errno) -> bool {
        self.0 == *other as i32 as u32
    }
}

impl core::fmt::Display for RawErrno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.known() {
            Some(errno) => errno.fmt(f),
            None => write!(f, "errno {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_linux() {
        assert_eq!(Errno::EPERM as i32, 1);
        assert_eq!(Errno::EBADF as i32, 9);
        assert_eq!(Errno::EFAULT as i32, 14);
        assert_eq!(Errno::EINVAL as i32, 22);
        assert_eq!(Errno::ENOSYS as i32, 38);
        assert_eq!(Errno::ETIME as i32, 62);
        assert_eq!(Errno::ECANCELED as i32, 125);
    }

    #[test]
    fn raw_round_trip_and_names() {
        for &e in Errno::ALL {
            assert_eq!(Errno::from_raw(e as i32), Some(e));
            assert!(e.name().starts_with('E'));
            assert_eq!(e.as_res(), -(e as i32));
        }
        assert_eq!(Errno::from_raw(0), None);
        assert_eq!(Errno::from_raw(-22), None);
    }

    #[test]
    fn raw_errno_names_known_values_and_keeps_others() {
        for &e in Errno::ALL {
            let raw = RawErrno::from(e);
            assert_eq!(raw.known(), Some(e));
            assert_eq!(raw, e);
        }
        assert_eq!(RawErrno::new(4095).known(), None);
        assert_eq!(RawErrno::new(4095).get(), 4095);
        assert_eq!(RawErrno::new(u32::MAX).known(), None);
        assert_ne!(RawErrno::new(23), Errno::EINVAL);
    }
}
