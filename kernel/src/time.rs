//! Kernel time: the TSC, calibrated at boot against the HPET.
//!
//! Until calibration `uptime_ns` reads zero.  Under QEMU's
//! `-icount shift=0` the guest TSC advances one tick per instruction, so
//! measurements in ticks are deterministic.

use core::sync::atomic::{AtomicU64, Ordering};

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);

/// Reads the time-stamp counter.
pub fn tsc() -> u64 {
    // SAFETY: RDTSC has no side effects; CR4.TSD is clear so it is allowed
    // at every privilege level the kernel runs at.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Records the TSC frequency; `boot_tsc` is the TSC at kernel entry.
pub fn set_tsc_hz(hz: u64, boot_tsc: u64) {
    BOOT_TSC.store(boot_tsc, Ordering::Relaxed);
    TSC_HZ.store(hz, Ordering::Relaxed);
}

pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Converts TSC ticks to nanoseconds (zero before calibration).
pub fn ticks_to_ns(ticks: u64) -> u64 {
    match tsc_hz() {
        0 => 0,
        hz => (u128::from(ticks) * 1_000_000_000 / u128::from(hz)) as u64,
    }
}

/// The TSC value at which `now_ns` will read `ns`.
pub fn ns_to_tsc(ns: u64) -> u64 {
    let ticks = u128::from(ns) * u128::from(tsc_hz()) / 1_000_000_000;
    BOOT_TSC.load(Ordering::Relaxed) + ticks as u64
}

/// Nanoseconds since kernel entry.
pub fn uptime_ns() -> u64 {
    ticks_to_ns(tsc().saturating_sub(BOOT_TSC.load(Ordering::Relaxed)))
}

/// Monotonic nanoseconds, the clock timers and deadlines use.
pub fn now_ns() -> u64 {
    uptime_ns()
}

/// Busy-waits at least `us` microseconds (needs calibration).
pub fn delay_us(us: u64) {
    let start = tsc();
    let ticks = u128::from(us) * u128::from(tsc_hz()) / 1_000_000;
    while u128::from(tsc() - start) < ticks {
        core::hint::spin_loop();
    }
}

crate::ktest!(
    fn calibration_is_sane_and_delays_are_not_short() {
        let hz = tsc_hz();
        crate::ensure!(
            (10_000_000..100_000_000_000).contains(&hz),
            "TSC at {hz} Hz"
        );
        let start = tsc();
        delay_us(1000);
        let elapsed = tsc() - start;
        crate::ensure!(
            elapsed >= hz / 1000,
            "1 ms delay took {elapsed} ticks at {hz} Hz"
        );
        let (a, b) = (now_ns(), now_ns());
        crate::ensure!(b >= a, "time went backwards");
        Ok(())
    }
);
