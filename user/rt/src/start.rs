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

extern "C" fn rt_start(initial_stack: *const u64) -> ! {
    // SAFETY: the kernel put argc, argv (NULL-terminated), envp
    // (NULL-terminated) and the auxiliary vector (ending in AT_NULL) at the
    // initial stack pointer, inside the mapped stack.
    unsafe { read_auxv(initial_stack) };
    // SAFETY: `__rt_main` is the safe `fn() -> i32` wrapper that `entry!`
    // generates; calling it has no preconditions.
    let status = unsafe { __rt_main() };
    crate::exit(status)
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    crate::exit(101)
}

/// Walks past argc, argv and envp to the auxiliary vector and records what
/// the runtime needs from it.
///
/// # Safety
///
/// `stack` must point at a System V initial stack.
unsafe fn read_auxv(stack: *const u64) {
    INITIAL_STACK.store(stack as usize, core::sync::atomic::Ordering::Relaxed);
    // SAFETY: per the contract, each word read lies in the initial stack.
    unsafe {
        let argc = stack.read() as usize;
        let mut cursor = stack.add(1 + argc + 1);
        while cursor.read() != 0 {
            cursor = cursor.add(1);
        }
        cursor = cursor.add(1);
        let (mut ring_addr, mut ring_bytes) = (0, 0);
        loop {
            let (kind, value) = (cursor.read(), cursor.add(1).read());
            match kind {
                abi::auxv::AT_NULL => break,
                abi::auxv::AT_RING_ADDR => ring_addr = value as usize,
                abi::auxv::AT_RING_BYTES => ring_bytes = value as usize,
                _ => {}
            }
            cursor = cursor.add(2);
        }
        crate::ring::set_mapping(ring_addr, ring_bytes);
    }
}

/// The initial stack pointer (argc, then argv), recorded by `_start`.
static INITIAL_STACK: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// The program's arguments, `argv[0]` first.  Arguments that are not UTF-8
/// are skipped.
pub fn args() -> impl Iterator<Item = &'static str> {
    let stack = INITIAL_STACK.load(core::sync::atomic::Ordering::Relaxed) as *const u64;
    let argc = if stack.is_null() {
        0
    } else {
        // SAFETY: `_start` recorded the kernel-built initial stack, which
        // stays mapped and unchanged (nothing writes above the initial RSP)
        // for the program's life; argc counts the argv pointers, each to a
        // NUL-terminated string in that stack.
        unsafe { stack.read() as usize }
    };
    (0..argc).filter_map(move |index| {
        // SAFETY: as above; `index < argc`.
        let text = unsafe {
            core::ffi::CStr::from_ptr(stack.add(1 + index).read() as *const core::ffi::c_char)
        };
        text.to_str().ok()
    })
}
