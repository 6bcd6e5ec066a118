//! PROCESS_SPAWN, SPACE_CLONE, WAIT and MSG_RING.
//!
//! - PROCESS_SPAWN: `addr`/`len` name the path, `off`/`op_flags` an argv
//!   block (NUL-terminated strings back to back; empty: argv is the path).
//!   `addr3` is 0 (the child gets the caller's handles 0, 1 and 2) or a
//!   `SpawnStdio` naming the caller's handles for them.  `res` is a
//!   handle to the child.
//! - WAIT: `fd` is a child handle; resolves when the child ends, with the
//!   Linux wait status, and releases the handle.
//! - MSG_RING: `fd` is a child handle or a ring handle (a spawned process
//!   finds its parent's ring at handle 3); posts a CQE with `user_data =
//!   off` and `res = len` into that ring.  `res` is 0 for the sender.

use super::{Context, OpFuture, Started};
use crate::arch::user::UserRegisters;
use crate::mm::pin::{Access, PinnedBuffer};
use crate::proc::elf::{USER_END, USER_MIN};
use crate::proc::handles::{Handle, STDIO};
use crate::proc::process::Process;
use crate::proc::spawn::{self, MAX_ARGUMENT_BYTES};
use abi::{Errno, SpawnStdio, Sqe};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

/// The longest path PROCESS_SPAWN takes.
const MAX_PATH_BYTES: u32 = 4096;

fn read_user(context: &Context, addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
    context
        .process
        .with_space_mut(|space| {
            PinnedBuffer::new(space, addr, len, Access::Read).map(|buffer| buffer.read_all())
        })
        .ok_or(Errno::ESRCH)?
}

pub fn spawn(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        if sqe.len == 0 || sqe.len > MAX_PATH_BYTES {
            return Err(Errno::EINVAL);
        }
        if sqe.op_flags as usize > MAX_ARGUMENT_BYTES {
            return Err(Errno::E2BIG);
        }
        let path = String::from_utf8(read_user(context, sqe.addr, u64::from(sqe.len))?)
            .map_err(|_| Errno::EINVAL)?;
        let block = read_user(context, sqe.off, u64::from(sqe.op_flags))?;
        let mut arguments: Vec<&str> = Vec::new();
        if !block.is_empty() {
            if block.last() != Some(&0) {
                return Err(Errno::EINVAL);
            }
            for argument in block[..block.len() - 1].split(|&byte| byte == 0) {
                arguments.push(core::str::from_utf8(argument).map_err(|_| Errno::EINVAL)?);
            }
        } else {
            arguments.push(&path);
        }
        let stdio = stdio(context, sqe.addr3)?;
        // The child can answer its parent: MSG_RING to handle 3.
        let child = spawn::spawn_child(&path, &arguments, context.process.ring(0), stdio)?;
        let handle = context
            .process
            .handles
            .lock()
            .insert(Handle::Child(child))?;
        Ok(handle as u32)
    })();
    result.into()
}

/// The child's handles 0, 1 and 2: the caller's handles that the
/// [`SpawnStdio`] at `addr` names, or the caller's own 0, 1 and 2 when
/// `addr` is 0.  Only streams pass (the console, files and pipe ends):
/// `EBADF` for a missing handle or any other kind.
fn stdio(context: &Context, addr: u64) -> Result<[Handle; STDIO], Errno> {
    let numbers = if addr == 0 {
        [0, 1, 2]
    } else {
        let bytes = read_user(context, addr, SpawnStdio::BYTES as u64)?;
        let block = SpawnStdio::from_bytes(bytes.try_into().map_err(|_| Errno::EFAULT)?);
        if block.reserved != 0 {
            return Err(Errno::EINVAL);
        }
        block.handles
    };
    let handles = context.process.handles.lock();
    let mut stdio = [Handle::Console, Handle::Console, Handle::Console];
    for (slot, number) in stdio.iter_mut().zip(numbers) {
        *slot = match handles.get(number)? {
            handle @ (Handle::Console
            | Handle::File(_)
            | Handle::PipeRead(_)
            | Handle::PipeWrite(_)) => handle,
            Handle::Child(_) | Handle::Ring(_) | Handle::Thread(_) => return Err(Errno::EBADF),
        };
    }
    Ok(stdio)
}

pub fn wait(sqe: &Sqe, context: &Context) -> Started {
    let number = sqe.fd;
    let parent = context.process.clone();
    let future: OpFuture = match context.process.handles.lock().get(number) {
        Ok(Handle::Child(child)) => Box::pin(async move {
            let status = child.wait().await;
            parent.handles.lock().remove(number);
            status.wait_status()
        }),
        // Joining a thread: 0 once it has ended.
        Ok(Handle::Thread(thread)) => Box::pin(async move {
            thread.wait_ended().await;
            parent.handles.lock().remove(number);
            0
        }),
        Ok(_) => return Started::Done(Errno::ECHILD.as_res()),
        Err(errno) => return Started::Done(errno.as_res()),
    };
    Started::from(future)
}

pub fn msg_ring(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        let target = match context.process.handles.lock().get(sqe.fd)? {
            Handle::Ring(ring) => ring,
            Handle::Child(child) => child.ring(0).ok_or(Errno::EBADF)?,
            _ => return Err(Errno::EBADF),
        };
        let res = i32::try_from(sqe.len).map_err(|_| Errno::EINVAL)?;
        target.post_message(abi::Cqe::new(sqe.off, res, abi::CqeFlags::empty()))?;
        Ok(0)
    })();
    result.into()
}

/// SPACE_CLONE: a child process whose address space is a copy-on-write
/// image of the caller's, fork's first half (the user runtime's `fork` is
/// the rest).  `fd` = -1 (the caller's space), `addr` = the child's entry
/// point, `off` = its RSP exactly (inside a stack region), `addr3` = its
/// RDI.  The child has its own ring at the same address (fresh, empty),
/// and a copy of the caller's handles (not its children or threads).
/// `res` is a child handle, as PROCESS_SPAWN's.  The caller's pages turned
/// read-only are shot down on every CPU before the child runs: no thread
/// of the caller can write a page the child already shares.
pub fn space_clone(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        if sqe.fd != -1 {
            return Err(Errno::EINVAL);
        }
        if !(USER_MIN..USER_END).contains(&sqe.addr) {
            return Err(Errno::EFAULT);
        }
        let process = context.process.clone();
        if process.is_exiting() {
            return Err(Errno::ESRCH);
        }
        // The shootdown starts before the space's lock goes, as for MUNMAP
        // (`ops::mm::begin`): a thread that gets the lock next finds every
        // CPU's writable entries for the now-shared pages on their way out.
        let (child_space, pending) = process
            .with_space_mut(|space| {
                if space.stack_region_of(sqe.off).is_none() {
                    return Err(Errno::EINVAL);
                }
                let (child, gather) = space.clone_cow();
                Ok((
                    child,
                    crate::mm::shootdown::begin(space.pml4().as_u64(), gather),
                ))
            })
            .ok_or(Errno::ESRCH)??;
        let regs = UserRegisters {
            rdi: sqe.addr3,
            ..UserRegisters::starting_at(sqe.addr, sqe.off)
        };
        let start = move |process: &Process| -> i32 {
            let result = child_space.and_then(|space| {
                let child = spawn::spawn_clone(process, space, regs)?;
                process.handles.lock().insert(Handle::Child(child))
            });
            result.unwrap_or_else(Errno::as_res)
        };
        if pending.is_done() {
            return Ok(Started::Done(start(&process)));
        }
        let future: OpFuture = Box::pin(async move {
            pending.wait().await;
            start(&process)
        });
        Ok(Started::from(future))
    })();
    result.unwrap_or_else(|errno| Started::Done(errno.as_res()))
}
