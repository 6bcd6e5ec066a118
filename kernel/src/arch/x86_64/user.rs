//! Entering and leaving user mode on the one kernel stack per CPU.
//!
//! ```text
//! user ──syscall──> syscall_entry: swapgs; rsp = gs:[16] (stack top);
//!                   push the user's rsp, rflags, rip and GPRs (a
//!                   SyscallFrame) ──> sched::entry::syscall(&frame)  -> !
//! user ──trap────> IST stub ──> trap_common (swapgs) ──> trap_dispatch:
//!                   copy the TrapFrame and the fxsave area into the thread,
//!                   move to the stack top ──> sched::entry::trap(..)  -> !
//! kernel ──enter_user(regs, fpu, mode)──> sysretq (after a syscall:
//!                   caller-saved GPRs and all XMM zeroed, MXCSR and the
//!                   x87 control word kept) or iretq (full restore)
//! ```
//!
//! Neither entry returns along the stack it came in on: the kernel picks
//! up the thread's state from its `Thread`, and every entry starts again at
//! the top of this CPU's kernel stack.

use super::gdt::{KERNEL_CODE, USER_CODE, USER_DATA};
use super::percpu::{KERNEL_STACK_TOP_OFFSET, USER_RSP_SCRATCH_OFFSET};
use super::trap::{Gprs, TrapFrame};
use x86_64::VirtAddr;
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;
use x86_64::registers::segmentation::SegmentSelector;

/// A user thread's general registers, as the kernel keeps them, and the
/// FPU control words a syscall must preserve.
#[repr(C)]
#[derive(Clone, Debug)]
pub struct UserRegisters {
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
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    /// MXCSR (low half) and the x87 control word (bits 32..48): callee-saved
    /// in the SysV ABI, so a syscall returns them as they were, while the
    /// XMM and x87 data registers come back zeroed.
    pub fpu_control: u64,
}

/// MXCSR and x87 control word after reset: all exceptions masked, round to
/// nearest.
pub const DEFAULT_FPU_CONTROL: u64 = 0x1f80 | (0x037f << 32);

impl Default for UserRegisters {
    fn default() -> Self {
        Self {
            rax: 0,
            rbx: 0,
            rcx: 0,
            rdx: 0,
            rsi: 0,
            rdi: 0,
            rbp: 0,
            r8: 0,
            r9: 0,
            r10: 0,
            r11: 0,
            r12: 0,
            r13: 0,
            r14: 0,
            r15: 0,
            rip: 0,
            rsp: 0,
            rflags: 0,
            fpu_control: DEFAULT_FPU_CONTROL,
        }
    }
}

/// RFLAGS a thread starts with: interrupts on (IF), and bit 1, which is
/// always set.
const START_RFLAGS: u64 = 0x202;

impl UserRegisters {
    /// A new thread's registers: at `rip` with `rsp`, interrupts on, the
    /// rest zero (the FPU control words at their reset values).
    pub fn starting_at(rip: u64, rsp: u64) -> Self {
        Self {
            rip,
            rsp,
            rflags: START_RFLAGS,
            ..Self::default()
        }
    }

    /// Stores what an entry from user mode saved: its `Gprs` and the RIP,
    /// RSP and RFLAGS the CPU gave it, written in place into the thread's
    /// state (built apart and moved in, the 152 bytes were copied once
    /// more per entry).  (The field names stay flat, not a nested `Gprs`,
    /// because the rest of the kernel reads `regs.rax`.)
    fn save(&mut self, g: &Gprs, rip: u64, rsp: u64, rflags: u64, fpu_control: u64) {
        self.rax = g.rax;
        self.rbx = g.rbx;
        self.rcx = g.rcx;
        self.rdx = g.rdx;
        self.rsi = g.rsi;
        self.rdi = g.rdi;
        self.rbp = g.rbp;
        self.r8 = g.r8;
        self.r9 = g.r9;
        self.r10 = g.r10;
        self.r11 = g.r11;
        self.r12 = g.r12;
        self.r13 = g.r13;
        self.r14 = g.r14;
        self.r15 = g.r15;
        self.rip = rip;
        self.rsp = rsp;
        self.rflags = rflags;
        self.fpu_control = fpu_control;
    }
}

/// The 512-byte FXSAVE image of the FPU/SSE state.
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FxArea(pub [u8; 512]);

impl FxArea {
    /// MXCSR and the x87 control word, as [`UserRegisters::fpu_control`].
    fn control_words(&self) -> u64 {
        let word = |at: usize, len: usize| {
            self.0[at..at + len]
                .iter()
                .rev()
                .fold(0u64, |value, &byte| value << 8 | u64::from(byte))
        };
        // FXSAVE: FCW at byte 0, MXCSR at byte 24.
        word(24, 4) | word(0, 2) << 32
    }
}

/// How to go back to user mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// After a syscall: only RAX (the result), RIP, RSP, RFLAGS and the
    /// callee-saved registers matter; the rest, XMM included, is zeroed.
    Sysret,
    /// After an interrupt or exception: everything comes back.
    Iret,
}

/// The frame `syscall_entry` pushes on the kernel stack.
#[repr(C)]
pub struct SyscallFrame {
    /// MXCSR and the x87 control word, as [`UserRegisters::fpu_control`].
    pub fpu_control: u64,
    /// Keeps the stack 16-byte aligned for the call.
    _pad: u64,
    pub gprs: Gprs,
    pub rip: u64,
    pub rflags: u64,
    pub rsp: u64,
}

/// RFLAGS bits a user thread may not set: IOPL, NT, RF, VM, VIF, VIP, ID
/// are cleared; IF is forced on.
const USER_RFLAGS_CLEARED: u64 =
    (3 << 12) | (1 << 14) | (1 << 16) | (1 << 17) | (1 << 19) | (1 << 20) | (1 << 21);
const USER_RFLAGS_SET: u64 = 1 << 9;
/// One past the canonical user half: `sysretq` to a non-canonical RIP
/// would fault in ring 0 on the user's stack, so such a thread resumes
/// through `iretq`, whose fault arrives from user mode.
const USER_END: u64 = 0x0000_8000_0000_0000;

core::arch::global_asm!(
    r#"
    .section .text.user_entry, "ax", @progbits
    .globl syscall_entry
syscall_entry:
    swapgs
    mov %rsp, %gs:{scratch}
    mov %gs:{stack_top}, %rsp
    push %gs:{scratch}
    push %r11
    push %rcx
"#,
    super::trap::push_gprs!(),
    r#"
    sub $16, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    mov %rsp, %rdi
    xor %ebp, %ebp
    cld
    call {entry}
    ud2
"#,
    scratch = const USER_RSP_SCRATCH_OFFSET,
    stack_top = const KERNEL_STACK_TOP_OFFSET,
    entry = sym syscall_from_user,
    options(att_syntax)
);

unsafe extern "C" {
    fn syscall_entry();
}

extern "C" fn syscall_from_user(frame: &SyscallFrame) -> ! {
    crate::sched::entry::syscall(|regs| {
        regs.save(
            &frame.gprs,
            frame.rip,
            frame.rsp,
            frame.rflags,
            // Only the words `stmxcsr` and `fnstcw` wrote.
            frame.fpu_control & 0x0000_ffff_ffff_ffff,
        )
    })
}

/// Turns on SYSCALL/SYSRET on this CPU.
pub fn init_cpu() {
    // SAFETY: the selectors match the GDT layout (see `gdt`), the entry
    // point is `syscall_entry`, and the mask clears IF (so the entry runs
    // with interrupts off), DF, TF and AC.
    unsafe {
        Star::write(
            SegmentSelector(USER_CODE),
            SegmentSelector(USER_DATA),
            SegmentSelector(KERNEL_CODE),
            SegmentSelector(super::gdt::KERNEL_DATA),
        )
        .expect("GDT layout matches SYSRET's expectations");
        LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
        SFMask::write(
            RFlags::INTERRUPT_FLAG
                | RFlags::DIRECTION_FLAG
                | RFlags::TRAP_FLAG
                | RFlags::ALIGNMENT_CHECK,
        );
        Efer::update(|efer| efer.insert(EferFlags::SYSTEM_CALL_EXTENSIONS));
    }
}

/// `trap_dispatch`'s path for a trap taken in user mode: save the state
/// into the current thread, leave the IST stack, and let the scheduler
/// decide.  `frame` sits on the IST stack with the fxsave area below it.
pub fn trap_from_user(frame: &TrapFrame) -> ! {
    // SAFETY: `trap_common` put the 512-byte fxsave image right below the
    // frame, 16-byte aligned.
    let fpu = unsafe { &*((frame as *const TrapFrame as *const u8).sub(512) as *const FxArea) };
    let cause = crate::sched::entry::TrapCause {
        vector: frame.vector as u8,
        error_code: frame.error_code,
        fault_address: x86_64::registers::control::Cr2::read_raw(),
    };
    crate::sched::entry::save_trap(
        |regs| {
            regs.save(
                &frame.gprs,
                frame.rip,
                frame.rsp,
                frame.rflags,
                fpu.control_words(),
            )
        },
        fpu,
    );
    let top = super::percpu::current().kernel_stack_top.as_u64();
    // SAFETY: moves to the top of this CPU's kernel stack (nothing lives
    // there: every user entry starts from it) and calls a function that
    // never returns; the IST stack is abandoned, as the next trap resets it.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {entry}",
            "ud2",
            top = in(reg) top,
            entry = sym trap_entry_on_kernel_stack,
            in("rdi") cause.vector as u64,
            in("rsi") cause.error_code,
            in("rdx") cause.fault_address,
            options(noreturn)
        )
    }
}

/// Calls `entry` at the top of this CPU's kernel stack, abandoning
/// whatever the current stack holds: for code that restarts the CPU loop,
/// so a restart from inside the loop does not nest on the stack it runs on.
pub fn on_kernel_stack_top(entry: extern "C" fn() -> !) -> ! {
    let top = super::percpu::current().kernel_stack_top.as_u64();
    // SAFETY: the caller gives up every frame below (nothing returns to
    // them); the top of the kernel stack holds nothing live outside a user
    // entry, which starts from it and never returns along it either.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {entry}",
            "ud2",
            top = in(reg) top,
            entry = in(reg) entry,
            options(noreturn)
        )
    }
}

extern "C" fn trap_entry_on_kernel_stack(vector: u64, error_code: u64, fault_address: u64) -> ! {
    crate::sched::entry::trap(crate::sched::entry::TrapCause {
        vector: vector as u8,
        error_code,
        fault_address,
    })
}

/// The FPU half of an `iretq` return to ring 3 (the `sysretq` path resets
/// the FPU and keeps only the control words): with RSI pointing at a saved
/// `FxArea`, restore it; with RSI null,
/// load a clean state (FPU reset, every XMM register zeroed, the default
/// MXCSR) so no kernel or other thread's data reaches the user.  Uses local
/// labels 2 and 3 and eight bytes below RSP.
macro_rules! restore_user_fpu {
    () => {
        concat!(
            "test rsi, rsi\n",
            "jz 2f\n",
            "fxrstor64 [rsi]\n",
            "jmp 3f\n",
            "2:\n",
            "fninit\n",
            "pxor xmm0, xmm0\n pxor xmm1, xmm1\n pxor xmm2, xmm2\n pxor xmm3, xmm3\n",
            "pxor xmm4, xmm4\n pxor xmm5, xmm5\n pxor xmm6, xmm6\n pxor xmm7, xmm7\n",
            "pxor xmm8, xmm8\n pxor xmm9, xmm9\n pxor xmm10, xmm10\n pxor xmm11, xmm11\n",
            "pxor xmm12, xmm12\n pxor xmm13, xmm13\n pxor xmm14, xmm14\n pxor xmm15, xmm15\n",
            "push 0x1f80\n",
            "ldmxcsr [rsp]\n",
            "add rsp, 8\n",
            "3:",
        )
    };
}

/// Runs user code: restores `regs` (and `fpu`, or a clean FPU state) and
/// returns to ring 3.  `rflags` is sanitized (into a register: `regs` is
/// read where it lies, never copied); a non-canonical RIP or RSP forces
/// the `iretq` path, where the fault is the user's.
pub fn enter_user(regs: &UserRegisters, fpu: Option<&FxArea>, resume: Resume) -> ! {
    let rflags = (regs.rflags & !USER_RFLAGS_CLEARED) | USER_RFLAGS_SET;
    let sysret_safe = regs.rip < USER_END && regs.rsp < USER_END;
    let fpu = fpu.map_or(core::ptr::null(), |area| area as *const FxArea);
    if resume == Resume::Sysret && sysret_safe {
        // SAFETY: restores the callee-saved registers, RIP (RCX), RFLAGS
        // (R11), RSP and the result, resets the FPU, zeroes every XMM
        // register and every other GPR (no kernel or other thread's data
        // leaks), reloads the thread's MXCSR and x87 control word (saved by
        // `syscall_entry` from valid values), swaps GS back and returns to
        // ring 3.  Interrupts stay off until SYSRET loads the user's RFLAGS.
        // The saved FPU area is not needed: everything but the control
        // words is the caller's to lose across a syscall.
        unsafe {
            core::arch::asm!(
                "fninit",
                "pxor xmm0, xmm0", "pxor xmm1, xmm1", "pxor xmm2, xmm2", "pxor xmm3, xmm3",
                "pxor xmm4, xmm4", "pxor xmm5, xmm5", "pxor xmm6, xmm6", "pxor xmm7, xmm7",
                "pxor xmm8, xmm8", "pxor xmm9, xmm9", "pxor xmm10, xmm10", "pxor xmm11, xmm11",
                "pxor xmm12, xmm12", "pxor xmm13, xmm13", "pxor xmm14, xmm14", "pxor xmm15, xmm15",
                "ldmxcsr [rdi + 144]",
                "fldcw [rdi + 148]",
                "mov rbx, [rdi + 8]",
                "mov rbp, [rdi + 48]",
                "mov r12, [rdi + 88]",
                "mov r13, [rdi + 96]",
                "mov r14, [rdi + 104]",
                "mov r15, [rdi + 112]",
                "mov rax, [rdi + 0]",
                "mov rcx, [rdi + 120]",
                "xor edx, edx", "xor esi, esi", "xor r8d, r8d", "xor r9d, r9d", "xor r10d, r10d",
                "mov rsp, [rdi + 128]",
                "xor edi, edi",
                "swapgs",
                "sysretq",
                in("rdi") regs,
                in("r11") rflags,
                options(noreturn)
            )
        }
    }
    // SAFETY: builds an iretq frame below the current RSP (the rest of this
    // stack is abandoned: the next entry starts at its top; `regs` and
    // `fpu` lie in the thread's state or above RSP, so the pushes cannot
    // overwrite them), restores the FPU state
    // (or a clean one) and every GPR, swaps GS back and returns to ring 3
    // with the user selectors.
    unsafe {
        core::arch::asm!(
            "push {user_data}",
            "push [rdi + 128]",
            "push {rflags}",
            "push {user_code}",
            "push [rdi + 120]",
            restore_user_fpu!(),
            "mov rax, [rdi + 0]",
            "mov rbx, [rdi + 8]",
            "mov rcx, [rdi + 16]",
            "mov rdx, [rdi + 24]",
            "mov rsi, [rdi + 32]",
            "mov rbp, [rdi + 48]",
            "mov r8, [rdi + 56]",
            "mov r9, [rdi + 64]",
            "mov r10, [rdi + 72]",
            "mov r11, [rdi + 80]",
            "mov r12, [rdi + 88]",
            "mov r13, [rdi + 96]",
            "mov r14, [rdi + 104]",
            "mov r15, [rdi + 112]",
            "mov rdi, [rdi + 40]",
            "swapgs",
            "iretq",
            user_data = const USER_DATA as u64,
            user_code = const USER_CODE as u64,
            rflags = in(reg) rflags,
            in("rdi") regs,
            in("rsi") fpu,
            options(noreturn)
        )
    }
}

const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(UserRegisters, rax) == 0);
    assert!(offset_of!(UserRegisters, rbx) == 8);
    assert!(offset_of!(UserRegisters, rcx) == 16);
    assert!(offset_of!(UserRegisters, rdx) == 24);
    assert!(offset_of!(UserRegisters, rsi) == 32);
    assert!(offset_of!(UserRegisters, rdi) == 40);
    assert!(offset_of!(UserRegisters, rbp) == 48);
    assert!(offset_of!(UserRegisters, r8) == 56);
    assert!(offset_of!(UserRegisters, r11) == 80);
    assert!(offset_of!(UserRegisters, r12) == 88);
    assert!(offset_of!(UserRegisters, r15) == 112);
    assert!(offset_of!(UserRegisters, rip) == 120);
    assert!(offset_of!(UserRegisters, rsp) == 128);
    assert!(offset_of!(UserRegisters, rflags) == 136);
    // The SYSRET path loads MXCSR from +144 and the x87 control word from
    // +148.
    assert!(offset_of!(UserRegisters, fpu_control) == 144);
    assert!(offset_of!(SyscallFrame, gprs) == 16);
};
