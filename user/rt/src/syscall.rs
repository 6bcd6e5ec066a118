//! The trap wrappers.  Following DESIGN.md section 5, a wrapper declares
//! every caller-saved register clobbered, as a function call would, so the
//! kernel need only preserve the callee-saved ones.

use abi::Syscall;

/// Ends the calling process with `status`.
pub fn exit(status: i32) -> ! {
    // SAFETY: the exit trap takes its argument in RDI and never returns;
    // it touches no user memory.
    unsafe {
        core::arch::asm!(
            "syscall",
            in("rax") Syscall::Exit as u64,
            in("rdi") status as i64 as u64,
            options(noreturn, nostack)
        )
    }
}
