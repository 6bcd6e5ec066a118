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
