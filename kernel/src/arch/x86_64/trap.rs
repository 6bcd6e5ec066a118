//! Trap entry: 256 uniform stubs, the common save path, and dispatch.
//!
//! ```text
//! stub n:     [push $0 if the CPU pushes no error code]  push $n  jmp common
//! common:     push the 15 GPRs  ->  TrapFrame (below)
//!             fxsave the SSE state (handlers are Rust code that may use XMM;
//!             an NMI can interrupt any kernel code)
//!             call trap_dispatch(&mut TrapFrame)
//!             restore, drop vector and error code, iretq
//! ```
//!
//! Every stub is 16 bytes, so the stub for vector `n` is at
//! `trap_stubs + 16 * n`.  Exceptions go to `exception`; other vectors to
//! the handler registered with [`register`], then EOI.
//!
//! Only kernel-mode traps exist so far; the user-mode entry (swapgs, the
//! per-CPU stack reset) joins with user mode.

use core::sync::atomic::{AtomicUsize, Ordering};

pub const NMI: usize = 2;
pub const DOUBLE_FAULT: usize = 8;
pub const MACHINE_CHECK: usize = 18;

/// The fifteen general-purpose registers in the order `push_gprs!` leaves
/// them on the stack (RAX lowest): the head of both `TrapFrame` and
/// `user::SyscallFrame`.
#[repr(C)]
#[derive(Clone, Debug)]
pub struct Gprs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
}

/// The saved state of a trapped context, as `trap_common` lays it out.
#[repr(C)]
#[derive(Clone, Debug)]
pub struct TrapFrame {
    pub gprs: Gprs,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Pushes the fifteen general-purpose registers, R15 first, so that RAX
/// ends lowest: the layout of the first fifteen words of `TrapFrame` and of
/// `SyscallFrame::gprs`, shared by the trap and the syscall entries.
macro_rules! push_gprs {
    () => {
        concat!(
            "push %r15\n",
            "push %r14\n",
            "push %r13\n",
            "push %r12\n",
            "push %r11\n",
            "push %r10\n",
            "push %r9\n",
            "push %r8\n",
            "push %rbp\n",
            "push %rdi\n",
            "push %rsi\n",
            "push %rdx\n",
            "push %rcx\n",
            "push %rbx\n",
            "push %rax\n",
        )
    };
}
pub(super) use push_gprs;

core::arch::global_asm!(
    r#"
    .section .text.trap, "ax", @progbits
    .balign 16
    .globl trap_stubs
trap_stubs:
    .set vector, 0
    .rept 256
    .balign 16
    .if (vector == 8) || (vector == 10) || (vector == 11) || (vector == 12) || (vector == 13) || (vector == 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
    pushq $0
    .endif
    pushq $vector
    jmp trap_common
    .set vector, vector + 1
    .endr

trap_common:
    /* From user mode (CS at 24(%rsp): vector, error code, RIP below it),
       the GS base is the user's: switch to the kernel's.  A user trap never
       returns through here (see user.rs), so only the entry swaps. */
    testb $3, 24(%rsp)
    jz 1f
    swapgs
1:
"#,
    push_gprs!(),
    r#"
    mov %rsp, %rdi
    sub $512, %rsp
    fxsave64 (%rsp)
    cld
    call {dispatch}
    fxrstor64 (%rsp)
    add $512, %rsp
    pop %rax
    pop %rbx
    pop %rcx
    pop %rdx
    pop %rsi
    pop %rdi
    pop %rbp
    pop %r8
    pop %r9
    pop %r10
    pop %r11
    pop %r12
    pop %r13
    pop %r14
    pop %r15
    add $16, %rsp
    iretq
"#,
    dispatch = sym trap_dispatch,
    options(att_syntax)
);

unsafe extern "C" {
    static trap_stubs: [u8; 256 * 16];
}

/// The address of the entry stub for `vector`.
pub fn stub_address(vector: usize) -> u64 {
    assert!(vector < 256);
    let base = (&raw const trap_stubs) as u64;
    base + 16 * vector as u64
}

/// A handler for a non-exception vector.  It runs with interrupts off on
/// the IRQ stack, and must only mark work pending or wake a task.
pub type Handler = fn(&mut TrapFrame);

static HANDLERS: [AtomicUsize; 256] = [const { AtomicUsize::new(0) }; 256];

/// Installs `handler` for `vector` (32..=255) on every CPU.
pub fn register(vector: u8, handler: Handler) {
    assert!(vector >= 32, "vectors below 32 are exceptions");
    HANDLERS[usize::from(vector)].store(handler as usize, Ordering::Release);
}

extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    let vector = frame.vector as usize;
    let from_user = frame.cs & 3 == 3;
    if vector < 32 {
        // A user fault is the process's problem (the scheduler kills it);
        // NMI, #DF and #MC are the machine's, wherever they land.
        if from_user && ![NMI, DOUBLE_FAULT, MACHINE_CHECK].contains(&vector) {
            super::user::trap_from_user(frame);
        }
        super::exception::handle(frame);
        return;
    }
    let raw = HANDLERS[vector].load(Ordering::Acquire);
    if raw != 0 {
        // SAFETY: only `register` stores non-zero values, and it stores
        // `Handler` function pointers.
        let handler: Handler = unsafe { core::mem::transmute::<usize, Handler>(raw) };
        handler(frame);
    } else if vector != super::apic::SPURIOUS_VECTOR as usize {
        crate::warn!("unexpected interrupt on vector {vector}");
    }
    if vector != super::apic::SPURIOUS_VECTOR as usize && !super::pic::is_legacy_vector(vector) {
        super::apic::eoi();
    }
    if from_user {
        // The interrupt preempted a user thread: the scheduler decides who
        // runs next, from the top of the kernel stack.
        super::user::trap_from_user(frame);
    }
}
