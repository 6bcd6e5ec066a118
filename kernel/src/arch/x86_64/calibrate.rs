//! Calibrating the TSC and the LAPIC timer against a reference clock: the
//! HPET when ACPI lists one, the PIT otherwise.

use super::{apic, hpet};
use x86_64::instructions::port::Port;

const WINDOW_US: u64 = 10_000;

/// What calibration measured.
pub struct Calibration {
    pub source: &'static str,
    pub tsc_hz: u64,
    pub apic_ticks_per_ms: u64,
}

/// Measures both rates over a 10 ms window of the reference clock.
pub fn calibrate(hpet_phys: Option<u64>) -> Calibration {
    let hpet_ready = hpet_phys.and_then(hpet::init).is_some();
    apic::timer_start_free_running();
    let tsc_start = crate::time::tsc();
    if hpet_ready {
        hpet::wait_us(WINDOW_US);
    } else {
        pit_wait_us(WINDOW_US);
    }
    let tsc_ticks = crate::time::tsc() - tsc_start;
    let apic_ticks = u64::from(apic::timer_elapsed());
    apic::timer_stop();
    Calibration {
        source: if hpet_ready { "HPET" } else { "PIT" },
        tsc_hz: tsc_ticks * 1_000_000 / WINDOW_US,
        apic_ticks_per_ms: apic_ticks * 1000 / WINDOW_US,
    }
}

/// Busy-waits on PIT channel 2 (gate through port 0x61, speaker off).
fn pit_wait_us(us: u64) {
    const PIT_HZ: u64 = 1_193_182;
    let count = (PIT_HZ * us / 1_000_000).min(0xffff) as u16;
    let mut gate = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    // SAFETY: the PIT and the system control port have no memory effects;
    // channel 2 is not used for anything else.
    unsafe {
        let value = gate.read() & !0x02;
        gate.write(value & !0x01);
        command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0
        channel2.write(count as u8);
        channel2.write((count >> 8) as u8);
        gate.write(value | 0x01);
        while gate.read() & 0x20 == 0 {
            core::hint::spin_loop();
        }
    }
}
