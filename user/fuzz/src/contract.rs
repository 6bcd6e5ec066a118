//! What each op may answer: success, or one errno of a set.  The sets are
//! read off the opcode table in `abi::opcode` and the kernel's ops, and
//! err on the side of every errno the contract allows, so an op that lands
//! later (or a provisional one that starts working) still passes; what they
//! catch is a result no contract allows: an errno the op never names, a
//! positive result past what was asked, or a CQE nobody asked for.

use abi::{Errno, Opcode};

/// A set of errnos, by value (every Linux errno the ABI names is below
/// 128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errnos(u128);

impl Errnos {
    pub const fn of(errnos: &[Errno]) -> Self {
        let mut bits = 0u128;
        let mut i = 0;
        while i < errnos.len() {
            bits |= 1 << (errnos[i] as u32);
            i += 1;
        }
        Errnos(bits)
    }

    pub const fn with(self, other: Errnos) -> Self {
        Errnos(self.0 | other.0)
    }

    pub fn contains(self, errno: u32) -> bool {
        errno < 128 && self.0 & (1 << errno) != 0
    }
}

use Errno::*;

/// What any op may answer besides its own set: cancelled (by a cancel, a
/// failed link before it, a link timeout, or the process ending), or a
/// kernel short of memory.
pub const ANY_OP: Errnos = Errnos::of(&[ECANCELED, ENOMEM]);

/// Errnos of the buffers an op reads or writes (`mm::pin`).
const BUFFER: Errnos = Errnos::of(&[EFAULT, EINVAL, EAGAIN, ENOMEM]);

/// What the op `opcode` may answer, apart from success.
pub fn errnos(opcode: Opcode) -> Errnos {
    let own = match opcode {
        Opcode::Nop => Errnos::of(&[EINVAL]),
        Opcode::Timeout => Errnos::of(&[ETIME, EINVAL, EFAULT, EOPNOTSUPP]),
        Opcode::AsyncCancel => Errnos::of(&[ENOENT, EALREADY, EINVAL]),
        Opcode::LinkTimeout => Errnos::of(&[ETIME, EINVAL, EFAULT, EOPNOTSUPP]),
        Opcode::OpenAt => Errnos::of(&[
            ENOENT,
            ENOTDIR,
            EISDIR,
            EROFS,
            EBADF,
            EMFILE,
            ENAMETOOLONG,
            EACCES,
        ])
        .with(BUFFER),
        Opcode::Close => Errnos::of(&[EBADF, EINVAL]),
        Opcode::Statx => Errnos::of(&[ENOENT, ENOTDIR, EBADF, ENAMETOOLONG]).with(BUFFER),
        Opcode::Read => Errnos::of(&[EBADF, ESPIPE, EISDIR, EOVERFLOW]).with(BUFFER),
        Opcode::Write => Errnos::of(&[EBADF, ESPIPE, EPIPE, EROFS, EFBIG, ENOSPC]).with(BUFFER),
        Opcode::MsgRing => Errnos::of(&[EBADF, EINVAL, EBUSY, EOVERFLOW]),
        Opcode::FutexWait => Errnos::of(&[EAGAIN, EINTR]).with(BUFFER),
        Opcode::FutexWake => BUFFER,
        Opcode::Pipe => Errnos::of(&[EMFILE]).with(BUFFER),
        Opcode::Mmap => {
            Errnos::of(&[EACCES, EEXIST, EPERM, EBADF, ENODEV, EOPNOTSUPP, EOVERFLOW]).with(BUFFER)
        }
        Opcode::Munmap | Opcode::Mprotect => Errnos::of(&[EINVAL, EPERM, EACCES, EFAULT]),
        Opcode::ThreadSpawn => Errnos::of(&[EAGAIN, EMFILE]).with(BUFFER),
        Opcode::ProcessSpawn => Errnos::of(&[
            ENOENT,
            ENOEXEC,
            E2BIG,
            EBADF,
            EACCES,
            EISDIR,
            ENOTDIR,
            ENAMETOOLONG,
            EMFILE,
        ])
        .with(BUFFER),
        Opcode::Wait => Errnos::of(&[EBADF, ECHILD, EINVAL]),
        Opcode::VmQuery | Opcode::MemStats => BUFFER,
        // Provisional: refused today, working later; either way a clear
        // answer.
        Opcode::SpaceClone | Opcode::RemapPages => {
            Errnos::of(&[EOPNOTSUPP, EBADF, EPERM, EACCES, EEXIST]).with(BUFFER)
        }
    };
    own.with(ANY_OP)
}

/// The largest successful `res` the op may give for an SQE asking for
/// `len` bytes (`None`: any non-negative value).
pub fn max_success(opcode: Opcode, len: u32) -> Option<u32> {
    match opcode {
        Opcode::Nop
        | Opcode::Close
        | Opcode::Statx
        | Opcode::MsgRing
        | Opcode::Pipe
        | Opcode::Mmap
        | Opcode::Munmap
        | Opcode::Mprotect
        | Opcode::AsyncCancel
        | Opcode::Timeout
        | Opcode::FutexWait => Some(0),
        Opcode::Read | Opcode::Write | Opcode::VmQuery | Opcode::MemStats => Some(len),
        _ => None,
    }
}
