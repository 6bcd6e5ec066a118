//! Deliberate failures (`crash=KIND` on the command line), so the harness
//! can check that panics and exceptions produce their reports.

use crate::boot::cmdline::CrashKind;

/// An address in the user half, which the kernel never maps.
const UNMAPPED: u64 = 0x1000_0000;

pub fn trigger(kind: CrashKind) -> ! {
    crate::warn!("crashing on purpose: {kind:?}");
    match kind {
        CrashKind::PageFault => page_fault(),
        CrashKind::Panic => panic(),
        CrashKind::InvalidOpcode => invalid_opcode(),
        CrashKind::StackOverflow => stack_overflow(),
    }
}

#[inline(never)]
fn page_fault() -> ! {
    // SAFETY: deliberately unsound: the read faults, and the fault is fatal.
    let value = unsafe { (UNMAPPED as *const u64).read_volatile() };
    panic!("read {value:#x} from an unmapped address")
}

#[inline(never)]
fn panic() -> ! {
    panic!("deliberate panic from the command line")
}

#[inline(never)]
fn invalid_opcode() -> ! {
    // SAFETY: raises #UD, which is fatal.
    unsafe { core::arch::asm!("ud2", options(noreturn)) }
}

/// Recurses on a fresh guarded stack until it hits the guard page.
#[inline(never)]
fn stack_overflow() -> ! {
    let top = crate::mm::kstack::alloc(16 * 1024);
    // SAFETY: switches to a fresh, mapped stack and never returns; the
    // recursion ends in a fatal page fault on the guard page.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "call {recurse}",
            "ud2",
            top = in(reg) top.as_u64(),
            recurse = sym recurse_forever,
            options(noreturn)
        )
    }
}

extern "C" fn recurse_forever() -> ! {
    recurse(0);
    unreachable!("recursion returned")
}

// The recursion is the point: it ends on the guard page.
#[allow(unconditional_recursion)]
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 32]);
    recurse(depth + 1) + frame[7]
}
