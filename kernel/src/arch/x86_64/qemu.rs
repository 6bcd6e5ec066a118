//! QEMU's `isa-debug-exit` device: the guest test harness's exit status.
//!
//! Writing `value` to port 0xf4 makes QEMU exit with `(value << 1) | 1`.
//! Zero is never written: it would exit with 1, QEMU's own failure status.
//! On a machine without the device the write does nothing and the caller
//! halts instead.

use x86_64::instructions::port::Port;

/// Why the kernel ends the emulator.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Every test passed (QEMU status 33).
    Success = 0x10,
    /// Some tests failed (QEMU status 35).
    TestsFailed = 0x11,
    /// A panic or fatal exception (QEMU status 37).
    Panic = 0x12,
}

/// Exits QEMU with `code`, or halts forever without the device.
pub fn exit(code: ExitCode) -> ! {
    // SAFETY: port 0xf4 is the debug-exit device or nothing; a write has no
    // memory effects.
    unsafe { Port::<u32>::new(0xf4).write(code as u32) };
    crate::arch::halt_forever()
}
