//! Everything x86_64-specific.  The rest of the kernel uses the functions
//! re-exported from `crate::arch`, never the hardware directly.
//!
//! - `boot32` / `boot`: the PVH entry and the hand-off to `kmain`;
//! - `serial`, `qemu`: console and the emulator's exit device;
//! - `cpu`: feature detection and control-register policy;
//! - `gdt`, `idt`, `trap`: descriptor tables and the trap entry;
//! - `percpu`: the per-CPU block reached through GS;
//! - `acpi`, `hpet`, `apic`, `smp`: the platform, timers and the other CPUs.

pub mod acpi;
pub mod apic;
pub mod backtrace;
pub mod boot;
mod boot32;
pub mod bringup;
pub mod calibrate;
pub mod cpu;
mod exception;
pub mod gdt;
pub mod hpet;
pub mod idt;
pub mod ioapic;
pub mod nmi;
pub mod percpu;
pub mod pic;
pub mod qemu;
pub mod serial;
pub mod smp;
mod trampoline;
pub mod trap;
pub mod user;

pub use boot32::{BOOT_STACK, BOOT_STACK_BYTES};
pub use exception::name as exception_name;

use x86_64::instructions::interrupts;

/// Disables interrupts for its lifetime and restores the previous state.
pub struct InterruptGuard {
    were_enabled: bool,
}

impl InterruptGuard {
    pub fn new() -> Self {
        let were_enabled = interrupts::are_enabled();
        interrupts::disable();
        Self { were_enabled }
    }
}

impl Default for InterruptGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        if self.were_enabled {
            interrupts::enable();
        }
    }
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Halts until the next interrupt with interrupts enabled, then disables
/// them again.  `sti; hlt` is atomic: a wake-up that arrives between the
/// caller's last check and the `hlt` still ends the halt.
///
/// Declared as clobbering every caller-saved register (XMM included): the
/// handlers that run while interrupts are on may use them, so nothing live
/// may sit in one across this point.
pub fn wait_for_interrupt() {
    // SAFETY: enabling interrupts here is the kernel's idle point; handlers
    // run on IST stacks and return.  `clobber_abi("C")` tells the compiler
    // the handlers may have clobbered caller-saved state.
    unsafe {
        core::arch::asm!(
            "sti",
            "hlt",
            "cli",
            clobber_abi("C"),
            options(nomem, nostack)
        )
    }
}

/// Briefly opens an interrupt window without halting (for polling loops
/// that must still take IPIs).
pub fn interrupt_window() {
    // SAFETY: as in `wait_for_interrupt`.
    unsafe {
        core::arch::asm!(
            "sti",
            "nop",
            "cli",
            clobber_abi("C"),
            options(nomem, nostack)
        )
    }
}
