//! `stackguard`: a thread moves its stack pointer into a buffer in `.bss`
//! (a stack pivot, as an exploit would do) and makes a syscall.  Every
//! entry into the kernel checks that RSP lies in a stack region of the
//! process, so the kernel kills the whole process with a "bad stack"
//! status (SIGSEGV) and prints a crash report whose user backtrace names
//! this program's functions.  Exit status 1 means the process survived.
#![no_std]
#![no_main]

extern crate freestanding;

use core::fmt::Write;
use rt::io::Writer;
use rt::ring::Ring;

rt::entry!(main);

/// Where the thread moves its stack pointer: ordinary data, not a stack.
static mut NOT_A_STACK: [u64; 512] = [0; 512];

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 2;
    };
    let _ = writeln!(
        Writer(&mut ring),
        "stackguard: a thread leaves its stack: the kernel must kill this process"
    );
    let thread = match rt::thread::spawn(&mut ring, runaway_thread, 0) {
        Ok(thread) => thread,
        Err(errno) => {
            let _ = writeln!(Writer(&mut ring), "stackguard: no thread: {errno}");
            return 3;
        }
    };
    // The kill ends this wait too (the process ends with every thread).
    let _ = rt::thread::join(&mut ring, thread);
    let _ = writeln!(Writer(&mut ring), "stackguard: FAIL: the process survived");
    1
}

extern "C" fn runaway_thread(_argument: u64, _index: u64) -> ! {
    leave_the_stack()
}

/// Points RSP at [`NOT_A_STACK`] and asks the kernel to end this thread:
/// the kernel sees the stack pointer first.
#[inline(never)]
fn leave_the_stack() -> ! {
    let away = (&raw mut NOT_A_STACK).cast::<u64>().wrapping_add(256);
    // SAFETY: deliberately not sound: after the pivot nothing touches the
    // stack, and the syscall never returns (the kernel kills the process;
    // were it not to, the thread would end).
    unsafe {
        core::arch::asm!(
            "mov rsp, {away}",
            "syscall",
            "ud2",
            away = in(reg) away,
            in("rax") abi::Syscall::Exit as u64,
            in("rdi") 0u64,
            in("rsi") abi::EXIT_THREAD,
            options(noreturn)
        )
    }
}
