//! Measuring from user mode: the time-stamp counter, which under QEMU's
//! `-icount shift=0` counts guest instructions.

/// The time-stamp counter.
pub fn ticks() -> u64 {
    // SAFETY: RDTSC has no side effects and is allowed in user mode.
    unsafe { core::arch::x86_64::_rdtsc() }
}
