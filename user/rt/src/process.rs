//! Starting programs and waiting for them, through the ring.

use crate::ring::Ring;
use abi::{Errno, Opcode, Sqe};

/// How a child ended, decoded from the Linux wait status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStatus {
    Exited(i32),
    Signaled(i32),
}

impl WaitStatus {
    pub fn from_raw(raw: u32) -> Self {
        match raw & 0x7f {
            0 => Self::Exited(((raw >> 8) & 0xff) as i32),
            signal => Self::Signaled(signal as i32),
        }
    }
}

/// Submits `sqe` alone and waits for its CQE's result.
pub(crate) fn run_one(ring: &mut Ring, mut sqe: Sqe, user_data: u64) -> Result<u32, Errno> {
    sqe.user_data = user_data;
    ring.push(&sqe)?;
    ring.submit()?;
    crate::ring::result(&ring.wait_for(user_data)?)
}

/// Starts the program at `path` with `argv_block` (NUL-terminated strings
/// back to back; empty for argv = [path]).  Returns a handle to the child.
/// The child shares this process's handles 0, 1 and 2.
pub fn spawn(ring: &mut Ring, path: &str, argv_block: &[u8]) -> Result<i32, Errno> {
    spawn_sqe(ring, path, argv_block, 0)
}

/// PROCESS_SPAWN with `stdio` (0, or the address of a `SpawnStdio`) as
/// `addr3`.
fn spawn_sqe(ring: &mut Ring, path: &str, argv_block: &[u8], stdio: u64) -> Result<i32, Errno> {
    let sqe = Sqe {
        addr: path.as_ptr() as u64,
        len: u32::try_from(path.len()).map_err(|_| Errno::EINVAL)?,
        off: argv_block.as_ptr() as u64,
        op_flags: u32::try_from(argv_block.len()).map_err(|_| Errno::E2BIG)?,
        addr3: stdio,
        ..Sqe::new(Opcode::ProcessSpawn)
    };
    run_one(ring, sqe, u64::MAX - 1).map(|handle| handle as i32)
}

/// Waits for the child behind `handle` to end, and releases the handle.
pub fn wait(ring: &mut Ring, handle: i32) -> Result<WaitStatus, Errno> {
    let sqe = Sqe {
        fd: handle,
        ..Sqe::new(Opcode::Wait)
    };
    run_one(ring, sqe, u64::MAX - 2).map(WaitStatus::from_raw)
}

/// The handle of the parent's ring, in a process its parent spawned.
pub const PARENT_RING: i32 = 3;

/// Posts a CQE with `user_data` and `value` as its result into the ring
/// behind `handle` (a child, or [`PARENT_RING`]).
pub fn msg_ring(ring: &mut Ring, handle: i32, user_data: u64, value: u32) -> Result<(), Errno> {
    let sqe = Sqe {
        fd: handle,
        off: user_data,
        len: value,
        ..Sqe::new(Opcode::MsgRing)
    };
    run_one(ring, sqe, u64::MAX - 7).map(|_| ())
}

/// Like [`spawn`], with the child's handles 0, 1 and 2 taken from
/// `stdio` (handles of this process) instead of this process's own 0, 1
/// and 2.
pub fn spawn_with_stdio(
    ring: &mut Ring,
    path: &str,
    argv_block: &[u8],
    stdio: &abi::SpawnStdio,
) -> Result<i32, Errno> {
    spawn_sqe(
        ring,
        path,
        argv_block,
        stdio as *const abi::SpawnStdio as u64,
    )
}

/// A new pipe: its read handle and its write handle.
pub fn pipe(ring: &mut Ring) -> Result<(i32, i32), Errno> {
    let mut ends = [0i32; 2];
    let sqe = Sqe {
        addr: ends.as_mut_ptr() as u64,
        ..Sqe::new(Opcode::Pipe)
    };
    run_one(ring, sqe, u64::MAX - 12)?;
    Ok((ends[0], ends[1]))
}

/// Runs `body` in a [`fork`] child, which exits with what it returns;
/// the child's wait status.
pub fn in_child(ring: &mut Ring, body: impl FnOnce(&mut Ring) -> i32) -> Result<WaitStatus, Errno> {
    match fork(ring)? {
        Forked::Child => crate::syscall::exit(body(ring)),
        Forked::Parent(child) => wait(ring, child),
    }
}

/// What [`fork`] returned to whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forked {
    /// In the parent: the child's handle (WAIT reaps it).
    Parent(i32),
    /// In the child.
    Child,
}

/// Fork, built in userspace on SPACE_CLONE (as Redox builds it): the child
/// is a copy-on-write image of this process, running this thread from
/// this call on, with a fresh ring at the same address (`ring` is turned
/// into a view of it) and this process's handles (not its children or
/// threads).  Other threads are not copied.
pub fn fork(ring: &mut Ring) -> Result<Forked, Errno> {
    // SAFETY: `fork_call` follows the C ABI: it returns once in this
    // process (with what SPACE_CLONE gave) and once in the child (0, from
    // `fork_child`), each time with the callee-saved registers and the
    // stack above its frame as they were at the call.
    let result = unsafe { fork_call((ring as *mut Ring).cast()) };
    match result {
        IN_CHILD => {
            ring.reopen_after_fork()?;
            Ok(Forked::Child)
        }
        handle if handle >= 0 => Ok(Forked::Parent(handle as i32)),
        errno => Err(Errno::from_raw((-errno) as i32).unwrap_or(Errno::EINVAL)),
    }
}

/// What `fork_call` returns in the child: no handle (0 is one, when
/// handle 0 was closed) and no `-errno`.
const IN_CHILD: i64 = 1 << 32;

unsafe extern "C" {
    /// Saves the callee-saved registers on the stack and submits
    /// SPACE_CLONE with the child starting at `fork_child` on exactly this
    /// stack pointer; returns the child handle or `-errno` (in the parent).
    fn fork_call(ring: *mut core::ffi::c_void) -> i64;
}

// The child starts at `fork_child` with RSP where `fork_call` left it: its
// copy of the stack holds the saved registers and `fork_call`'s return
// address, so it pops them and returns `IN_CHILD` from the same call.
core::arch::global_asm!(
    ".pushsection .text.fork_call, \"ax\"",
    ".global fork_call",
    "fork_call:",
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "mov rsi, rsp",
    "sub rsp, 8",
    "call {submit}",
    "add rsp, 8",
    "2:",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".global fork_child",
    "fork_child:",
    "mov rax, {in_child}",
    "jmp 2b",
    ".popsection",
    submit = sym fork_submit,
    in_child = const IN_CHILD,
);

/// `fork_call`'s second half: SPACE_CLONE with the child's RSP `rsp`.
extern "C" fn fork_submit(ring: *mut core::ffi::c_void, rsp: u64) -> i64 {
    unsafe extern "C" {
        fn fork_child();
    }
    let sqe = Sqe {
        fd: -1,
        addr: fork_child as *const () as u64,
        off: rsp,
        ..Sqe::new(Opcode::SpaceClone)
    };
    // SAFETY: `fork_call`'s caller passed its `&mut Ring`, untouched since.
    let ring = unsafe { &mut *ring.cast::<Ring>() };
    match run_one(ring, sqe, u64::MAX - 13) {
        Ok(handle) => i64::from(handle),
        Err(errno) => -i64::from(errno as i32),
    }
}
