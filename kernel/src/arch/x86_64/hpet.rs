//! The HPET main counter: the reference clock for calibration.

use core::sync::atomic::{AtomicU64, Ordering};

const CAPABILITIES: u64 = 0x00;
const CONFIG: u64 = 0x10;
const MAIN_COUNTER: u64 = 0xf0;
const CONFIG_ENABLE: u64 = 1;

static BASE: AtomicU64 = AtomicU64::new(0);
static PERIOD_FS: AtomicU64 = AtomicU64::new(0);

fn read(offset: u64) -> u64 {
    // SAFETY: `BASE` maps the HPET's register page uncached (set in `init`
    // before any read); offsets are register offsets.
    unsafe { ((BASE.load(Ordering::Relaxed) + offset) as *const u64).read_volatile() }
}

fn write(offset: u64, value: u64) {
    // SAFETY: as in `read`.
    unsafe { ((BASE.load(Ordering::Relaxed) + offset) as *mut u64).write_volatile(value) }
}

/// Maps the HPET at `phys` and starts its main counter.  Returns the
/// counter frequency in Hz, or `None` if the HPET reports no valid period.
pub fn init(phys: u64) -> Option<u64> {
    BASE.store(
        crate::mm::paging::map_mmio(phys, 4096).as_u64(),
        Ordering::Relaxed,
    );
    let period_fs = read(CAPABILITIES) >> 32;
    // The spec caps the period at 100 ns; zero or more means no HPET.
    if period_fs == 0 || period_fs > 100_000_000 {
        return None;
    }
    PERIOD_FS.store(period_fs, Ordering::Relaxed);
    write(CONFIG, read(CONFIG) | CONFIG_ENABLE);
    Some(1_000_000_000_000_000 / period_fs)
}

/// The main counter.
pub fn counter() -> u64 {
    read(MAIN_COUNTER)
}

/// Busy-waits `us` microseconds on the HPET.
pub fn wait_us(us: u64) {
    let period_fs = PERIOD_FS.load(Ordering::Relaxed);
    let ticks = us * 1_000_000_000 / period_fs;
    let start = counter();
    while counter().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}
