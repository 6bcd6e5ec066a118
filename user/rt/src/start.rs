//! `_start` and the panic handler.
//!
//! The kernel enters a program at `_start` with RSP at the initial stack
//! (argc, argv, envp, auxv).  `_start` clears RBP to end the backtrace chain,
//! aligns the stack and calls [`rt_start`].

core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {start}",
    "ud2",
    start = sym rt_start,
);

unsafe extern "Rust" {
    /// Defined by the program through `rt::entry!`.
    fn __rt_main() -> i32;
}

extern "C" fn rt_start(_initial_stack: *const u64) -> ! {
    // SAFETY: `__rt_main` is the safe `fn() -> i32` wrapper that `entry!`
    // generates; calling it has no preconditions.
    let status = unsafe { __rt_main() };
    crate::exit(status)
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    crate::exit(101)
}
