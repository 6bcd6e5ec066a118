//! THREAD_SPAWN: a new thread in the calling process.
//!
//! `addr` is the entry point, `off` the stack top (0: the kernel maps a
//! `THREAD_STACK_BYTES` stack above a guard page), `addr3` the argument.
//! The thread starts with RDI = the argument and RSI = its index (what
//! results are delivered to), RSP 8 below a 16-byte boundary as after a
//! call, with a zero return address.  `res` is a handle that WAIT joins.
//! A thread ends with `exit(status, EXIT_THREAD)`; the process ends with
//! its last thread, or at once with a plain `exit`.

use super::{Context, Started};
use crate::arch::user::UserRegisters;
use crate::mm::space::Protection;
use crate::proc::elf::{USER_END, USER_MIN};
use crate::proc::handles::Handle;
use crate::proc::process::THREAD_STACK_BYTES;
use crate::sched::thread::{self, Thread};
use abi::{Errno, Sqe};

pub fn spawn(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        if !(USER_MIN..USER_END).contains(&sqe.addr) || sqe.off >= USER_END {
            return Err(Errno::EFAULT);
        }
        let process = &context.process;
        if process.is_exiting() {
            return Err(Errno::ESRCH);
        }
        let kernel_stack = sqe.off == 0;
        let stack_top = match sqe.off {
            0 => {
                let top = process.reserve_thread_stack()?;
                let protection = Protection {
                    writable: true,
                    executable: false,
                };
                process
                    .with_space_mut(|space| {
                        space.map_pages(top - THREAD_STACK_BYTES, THREAD_STACK_BYTES, protection)
                    })
                    .ok_or(Errno::ESRCH)??;
                top
            }
            top => top & !15,
        };
        let thread = process.add_thread(|index| {
            let regs = UserRegisters {
                rip: sqe.addr,
                rsp: stack_top - 8,
                rdi: sqe.addr3,
                rsi: u64::from(index),
                rflags: 0x202,
                ..UserRegisters::default()
            };
            Thread::new(
                process.clone(),
                regs,
                index,
                kernel_stack.then_some(stack_top),
            )
        })?;
        let handle = process
            .handles
            .lock()
            .insert(Handle::Thread(thread.clone()));
        // Queued even when the handle table is full: the thread exists.
        thread::make_runnable(thread);
        Ok(handle? as u32)
    })();
    result.into()
}
