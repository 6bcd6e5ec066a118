//! `prep_*` helpers, as in liburing: each builds the SQE for one op, with
//! every field the op does not use left zero (the kernel insists).  Set
//! `user_data` (and flags) on the result, then queue it:
//!
//! ```ignore
//! let mut buffer = [0u8; 64];
//! let mut sqe = ring.get_sqe()?;
//! *sqe = rt::prep::read(0, &mut buffer, rt::prep::CURRENT_POSITION);
//! sqe.user_data = 7;
//! drop(sqe); // queued
//! ring.submit_and_wait(1)?;
//! let cqe = ring.wait_cqe()?;
//! ```
//!
//! Addresses go into the SQE as numbers: whatever they point at must stay
//! alive, and a buffer the kernel writes must not be touched, until the
//! op's CQE arrives (the async executor, `rt::task`, keeps that rule for
//! you by owning the buffers).

use abi::file::{AT_FDCWD, O_RDONLY};
use abi::{Opcode, SpawnStdio, Sqe, Timespec};

/// READ/WRITE's `off` for "at the handle's position" (io_uring's -1).
pub const CURRENT_POSITION: u64 = u64::MAX;

fn length(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// NOP: completes at once with 0.
pub fn nop() -> Sqe {
    Sqe::new(Opcode::Nop)
}

/// READ into `buffer` from `fd` at `offset` (or [`CURRENT_POSITION`]).
pub fn read(fd: i32, buffer: &mut [u8], offset: u64) -> Sqe {
    Sqe {
        fd,
        addr: buffer.as_mut_ptr() as u64,
        len: length(buffer.len()),
        off: offset,
        ..Sqe::new(Opcode::Read)
    }
}

/// WRITE of `bytes` to `fd` at `offset` (or [`CURRENT_POSITION`]).
pub fn write(fd: i32, bytes: &[u8], offset: u64) -> Sqe {
    Sqe {
        fd,
        addr: bytes.as_ptr() as u64,
        len: length(bytes.len()),
        off: offset,
        ..Sqe::new(Opcode::Write)
    }
}

/// OPENAT of the initfs file at `path` (NUL-terminated), for reading.
pub fn open(path: &core::ffi::CStr) -> Sqe {
    Sqe {
        fd: AT_FDCWD,
        addr: path.as_ptr() as u64,
        op_flags: O_RDONLY,
        ..Sqe::new(Opcode::OpenAt)
    }
}

/// CLOSE of a handle.
pub fn close(fd: i32) -> Sqe {
    Sqe {
        fd,
        ..Sqe::new(Opcode::Close)
    }
}

/// PIPE: the new read and write handles land in `ends`.
pub fn pipe(ends: &mut [i32; 2]) -> Sqe {
    Sqe {
        addr: ends.as_mut_ptr() as u64,
        ..Sqe::new(Opcode::Pipe)
    }
}

/// TIMEOUT: a timer for `spec` (ends with `-ETIME`).
pub fn timeout(spec: &Timespec) -> Sqe {
    Sqe {
        addr: spec as *const Timespec as u64,
        len: 1,
        ..Sqe::new(Opcode::Timeout)
    }
}

/// LINK_TIMEOUT for the SQE before it (which carries `IO_LINK`).
pub fn link_timeout(spec: &Timespec) -> Sqe {
    Sqe {
        opcode: Opcode::LinkTimeout as u8,
        ..timeout(spec)
    }
}

/// ASYNC_CANCEL of the running ops with `user_data`.
pub fn cancel(user_data: u64) -> Sqe {
    Sqe {
        addr: user_data,
        ..Sqe::new(Opcode::AsyncCancel)
    }
}

/// PROCESS_SPAWN of `path` with `argv_block` (NUL-terminated strings back
/// to back; empty: argv is the path), and `stdio` for the child's 0, 1
/// and 2 (`None`: the caller's own).
pub fn spawn(path: &str, argv_block: &[u8], stdio: Option<&SpawnStdio>) -> Sqe {
    Sqe {
        addr: path.as_ptr() as u64,
        len: length(path.len()),
        off: argv_block.as_ptr() as u64,
        op_flags: length(argv_block.len()),
        addr3: stdio.map_or(0, |stdio| stdio as *const SpawnStdio as u64),
        ..Sqe::new(Opcode::ProcessSpawn)
    }
}

/// WAIT for a child (its status) or a thread (joined).
pub fn wait(handle: i32) -> Sqe {
    Sqe {
        fd: handle,
        ..Sqe::new(Opcode::Wait)
    }
}

/// MSG_RING: a CQE `{user_data, value}` into the ring behind `handle`.
pub fn msg_ring(handle: i32, user_data: u64, value: u32) -> Sqe {
    Sqe {
        fd: handle,
        off: user_data,
        len: value,
        ..Sqe::new(Opcode::MsgRing)
    }
}

/// FUTEX_WAIT on a private 32-bit word while it holds `expected`.
pub fn futex_wait(word: &core::sync::atomic::AtomicU32, expected: u32) -> Sqe {
    Sqe {
        fd: abi::file::FUTEX2_SIZE_U32 | abi::file::FUTEX2_PRIVATE,
        off: u64::from(expected),
        addr: word.as_ptr() as u64,
        addr3: abi::file::FUTEX_BITSET_MATCH_ANY,
        ..Sqe::new(Opcode::FutexWait)
    }
}

/// FUTEX_WAKE of at most `count` waiters on a private 32-bit word.
pub fn futex_wake(word: &core::sync::atomic::AtomicU32, count: u32) -> Sqe {
    Sqe {
        opcode: Opcode::FutexWake as u8,
        off: u64::from(count),
        ..futex_wait(word, 0)
    }
}

/// MMAP of `len` bytes of anonymous memory with `prot` (`ProtFlags`) and
/// `flags` (`MapFlags`; `ANONYMOUS` is added), at `addr` with `FIXED`, else
/// anywhere (`addr` a hint).  The address lands in `out`.
pub fn mmap_anonymous(addr: u64, len: u32, prot: u32, flags: u32, out: &mut u64) -> Sqe {
    Sqe {
        fd: -1,
        addr,
        len,
        op_flags: flags | abi::MapFlags::ANONYMOUS.bits(),
        ioprio: prot as u16,
        addr3: out as *mut u64 as u64,
        ..Sqe::new(Opcode::Mmap)
    }
}

/// MMAP of `len` bytes of the file behind handle `fd` from byte `offset`
/// (page-aligned) on, with `prot` and `flags` (`MapFlags`: `SHARED` or
/// `PRIVATE`, ...), at `addr` as for [`mmap_anonymous`].  The address
/// lands in `out`.
pub fn mmap_file(fd: i32, offset: u64, len: u32, prot: u32, flags: u32, out: &mut u64) -> Sqe {
    Sqe {
        fd,
        off: offset,
        len,
        op_flags: flags,
        ioprio: prot as u16,
        addr3: out as *mut u64 as u64,
        ..Sqe::new(Opcode::Mmap)
    }
}

/// REMAP_PAGES: the pages of `[addr, addr + len)` (in one shared file
/// mapping) show the file from `file_offset` on, with `prot`.
pub fn remap_pages(addr: u64, len: u32, file_offset: u64, prot: u32) -> Sqe {
    Sqe {
        fd: -1,
        addr,
        len,
        off: file_offset,
        op_flags: prot,
        ..Sqe::new(Opcode::RemapPages)
    }
}

/// MUNMAP of `[addr, addr + len)`.
pub fn munmap(addr: u64, len: u32) -> Sqe {
    Sqe {
        addr,
        len,
        ..Sqe::new(Opcode::Munmap)
    }
}

/// MPROTECT of `[addr, addr + len)` to `prot` (`ProtFlags`).
pub fn mprotect(addr: u64, len: u32, prot: u32) -> Sqe {
    Sqe {
        addr,
        len,
        op_flags: prot,
        ..Sqe::new(Opcode::Mprotect)
    }
}

/// VM_QUERY: the caller's regions as `abi::file::VmRegion` records into
/// `out` (as many whole records as fit).
pub fn vm_query(out: &mut [abi::file::VmRegion]) -> Sqe {
    Sqe {
        addr: out.as_mut_ptr() as u64,
        len: length(core::mem::size_of_val(out)),
        ..Sqe::new(Opcode::VmQuery)
    }
}
