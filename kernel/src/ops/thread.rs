//! THREAD_SPAWN: a new thread in the calling process.
//!
//! `addr` is the entry point, `off` the stack top (0: the kernel maps a
//! `THREAD_STACK_BYTES` stack above a guard page), `addr3` the argument.
//! The thread starts with RDI = the argument and RSI = its index (what
//! results are delivered to), RSP 8 below a 16-byte boundary as after a
//! call, with a zero return address.  `res` is a handle that WAIT joins.
//! A thread ends with `exit(status, EXIT_THREAD)`; the process ends with
//! its last thread, or at once with a plain `exit`.  `ENOMEM` when the
//! stack cannot be had, `EAGAIN` past `MAX_THREADS`: a stack mapped for a
//! thread that did not start goes back first, after a shootdown.

use super::{Context, OpFuture, Started};
use crate::arch::user::UserRegisters;
use crate::mm::space::Protection;
use crate::proc::elf::{USER_END, USER_MIN};
use crate::proc::handles::Handle;
use crate::proc::process::{Process, THREAD_STACK_BYTES};
use crate::sched::thread::{self, Thread};
use abi::{Errno, Sqe};
use alloc::boxed::Box;
use alloc::sync::Arc;

pub fn spawn(sqe: &Sqe, context: &Context) -> Started {
    if !(USER_MIN..USER_END).contains(&sqe.addr) || sqe.off >= USER_END {
        return Started::Done(Errno::EFAULT.as_res());
    }
    let process = &context.process;
    if process.is_exiting() {
        return Started::Done(Errno::ESRCH.as_res());
    }
    let (stack_top, kernel_stack) = match sqe.off {
        0 => match map_stack(process) {
            Ok(top) => (top, true),
            Err(StackError::NotMapped(errno)) => return Started::Done(errno.as_res()),
            Err(StackError::PartlyMapped(top, errno)) => return give_back(process, top, errno),
        },
        top => (top & !15, false),
    };
    let added = process.add_thread(|index| {
        let regs = UserRegisters {
            rdi: sqe.addr3,
            rsi: u64::from(index),
            ..UserRegisters::starting_at(sqe.addr, stack_top - 8)
        };
        Thread::new(
            process.clone(),
            regs,
            index,
            kernel_stack.then_some(stack_top),
        )
    });
    let thread = match added {
        Ok(thread) => thread,
        Err(errno) if kernel_stack => return give_back(process, stack_top, errno),
        Err(errno) => return Started::Done(errno.as_res()),
    };
    let handle = process
        .handles
        .lock()
        .insert(Handle::Thread(thread.clone()));
    // Queued even when the handle table is full: the thread exists.
    thread::make_runnable(thread);
    Started::from(handle.map(|handle| handle as u32))
}

enum StackError {
    /// Nothing of the stack is mapped.
    NotMapped(Errno),
    /// The stack at this top is partly mapped: give it back.
    PartlyMapped(u64, Errno),
}

/// Maps a `THREAD_STACK_BYTES` stack in the process's thread-stack area
/// and returns its top.
fn map_stack(process: &Process) -> Result<u64, StackError> {
    let top = process
        .reserve_thread_stack()
        .map_err(StackError::NotMapped)?;
    let protection = Protection {
        writable: true,
        executable: false,
    };
    let mapped = process
        .with_space_mut(|space| {
            space.map_pages(top - THREAD_STACK_BYTES, THREAD_STACK_BYTES, protection)
        })
        .ok_or(StackError::NotMapped(Errno::ESRCH))?;
    mapped
        .map(|()| top)
        .map_err(|errno| StackError::PartlyMapped(top, errno))
}

/// Ends the op with `errno` once the stack the kernel mapped for a thread
/// that did not start is unmapped and, after a shootdown, freed.  Any
/// thread of the process may touch the stack area, so another CPU may
/// hold its pages in its TLB: freed at once, they could be handed to
/// another process while that CPU still writes them.  The release is a
/// task of its own: a cancel of the op stops the wait, not the release.
fn give_back(process: &Arc<Process>, top: u64, errno: Errno) -> Started {
    let process = process.clone();
    let runtime = crate::sched::runtime().expect("ops run under the executors");
    let release = runtime.spawn(async move { process.release_thread_stack(top).await });
    let future: OpFuture = Box::pin(async move {
        let _ = release.await;
        errno.as_res()
    });
    Started::from(future)
}
