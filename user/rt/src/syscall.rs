//! The trap wrappers.  Following DESIGN.md section 5, a wrapper declares
//! every caller-saved register clobbered, as a function call would (XMM
//! included), so the kernel need only preserve the callee-saved ones, and
//! zeroes the rest on the way back.

use abi::Syscall;

/// Ends the calling process (every thread of it) with `status`.
pub fn exit(status: i32) -> ! {
    exit_scoped(status, 0)
}

/// Ends only the calling thread; the process ends with its last thread.
pub fn exit_thread(status: i32) -> ! {
    exit_scoped(status, abi::EXIT_THREAD)
}

fn exit_scoped(status: i32, scope: u64) -> ! {
    // SAFETY: the exit trap takes its arguments in RDI and RSI and never
    // returns; it touches no user memory.
    unsafe {
        core::arch::asm!(
            "syscall",
            in("rax") Syscall::Exit as u64,
            in("rdi") status as i64 as u64,
            in("rsi") scope,
            options(noreturn, nostack)
        )
    }
}

/// `ring_enter(ring, to_submit, min_complete, flags)`: the kernel takes up
/// to `to_submit` SQEs and, with `GETEVENTS`, waits for `min_complete`
/// CQEs.  Returns the SQEs taken, or a negative errno.
pub fn ring_enter(ring: u32, to_submit: u32, min_complete: u32, flags: u32) -> i64 {
    let result: i64;
    // SAFETY: the trap reads only its register arguments; the kernel reads
    // the ring through its own mapping of the ring's frames.  Every
    // caller-saved register is declared clobbered.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") Syscall::RingEnter as u64 => result,
            in("rdi") u64::from(ring),
            in("rsi") u64::from(to_submit),
            in("rdx") u64::from(min_complete),
            in("r10") u64::from(flags),
            clobber_abi("sysv64"),
            options(nostack)
        );
    }
    result
}
