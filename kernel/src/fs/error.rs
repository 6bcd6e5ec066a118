//! The initfs's error type: why an archive or a lookup was refused.  Each
//! cause maps to an errno (`errno`) and carries a static message for the
//! boot log (`message`, `Display`).

use abi::Errno;

/// Why an archive or a lookup was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioError {
    BadMagic,
    BadHexDigit,
    EmptyName,
    NameNotTerminated,
    NulInName,
    NameNotUtf8,
    NameTooLong,
    /// An empty, `.` or `..` component.
    BadPath,
    Truncated,
    Overflow,
    MissingTrailer,
    BadChecksum,
    /// A directory or special file with a non-zero size.
    UnexpectedData,
    BadSymlinkTarget,
    RootNotDirectory,
    Duplicate,
    ParentMissing,
    ParentNotDirectory,
    TooManyEntries,
    OutOfMemory,
    NotFound,
    NotDirectory,
}

impl CpioError {
    pub fn errno(&self) -> Errno {
        use CpioError::*;
        match self {
            NameTooLong => Errno::ENAMETOOLONG,
            Truncated | MissingTrailer | BadChecksum => Errno::EIO,
            Overflow => Errno::EOVERFLOW,
            Duplicate => Errno::EEXIST,
            ParentMissing | NotFound => Errno::ENOENT,
            RootNotDirectory | ParentNotDirectory | NotDirectory => Errno::ENOTDIR,
            TooManyEntries => Errno::EFBIG,
            OutOfMemory => Errno::ENOMEM,
            BadMagic | BadHexDigit | EmptyName | NameNotTerminated | NulInName | NameNotUtf8
            | BadPath | UnexpectedData | BadSymlinkTarget => Errno::EINVAL,
        }
    }

    pub fn message(&self) -> &'static str {
        use CpioError::*;
        match self {
            BadMagic => "not a cpio newc archive (bad magic)",
            BadHexDigit => "non-hex digit in a header field",
            EmptyName => "empty name",
            NameNotTerminated => "name not NUL-terminated",
            NulInName => "NUL inside a name",
            NameNotUtf8 => "name is not UTF-8",
            NameTooLong => "name longer than PATH_MAX",
            BadPath => "empty, '.' or '..' path component",
            Truncated => "record runs past the end of the archive",
            Overflow => "record offset overflows",
            MissingTrailer => "no TRAILER!!! record",
            BadChecksum => "file data does not match its checksum",
            UnexpectedData => "directory or special file with data",
            BadSymlinkTarget => "symlink target empty, too long or with a NUL",
            RootNotDirectory => "the root entry is not a directory",
            Duplicate => "two entries with the same name",
            ParentMissing => "parent directory not in the archive",
            ParentNotDirectory => "parent is not a directory",
            TooManyEntries => "too many entries",
            OutOfMemory => "out of memory for the index",
            NotFound => "no such entry",
            NotDirectory => "not a directory",
        }
    }
}

impl core::fmt::Display for CpioError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.message(), self.errno())
    }
}
