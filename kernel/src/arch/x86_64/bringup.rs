//! The BSP's bring-up order, in two steps around memory management:
//!
//! 1. [`early`]: CPU features and protections, the BSP's GDT/TSS (static
//!    storage) and the IDT, so every later fault is reported;
//! 2. [`platform`]: ACPI, the APICs, timer calibration, the BSP's per-CPU
//!    block, the IPI handlers, and the other CPUs.

use super::{acpi, apic, calibrate, cpu, gdt, idt, ioapic, percpu, pic, smp};
use crate::boot::BootInfo;
use x86_64::VirtAddr;

pub fn early() -> cpu::Features {
    let features = cpu::init_bsp();
    cpu::enable_protections();
    let tss = gdt::load_bsp();
    BSP_TSS.call_once(|| tss);
    idt::load();
    super::user::init_cpu();
    features
}

static BSP_TSS: spin::Once<&'static x86_64::structures::tss::TaskStateSegment> = spin::Once::new();

/// What the platform bring-up found, for the boot log.
pub struct PlatformSummary {
    pub cpus_listed: usize,
    pub cpus_online: usize,
    pub apic_mode: &'static str,
    pub clock_source: &'static str,
    pub tsc_hz: u64,
    pub apic_ticks_per_ms: u64,
    pub io_apic_pins: u32,
    pub power_off: Result<(), &'static str>,
}

static SUMMARY: spin::Once<PlatformSummary> = spin::Once::new();

/// What [`platform`] found.
pub fn summary() -> &'static PlatformSummary {
    SUMMARY.get().expect("bringup::platform not done")
}

pub fn platform(boot: &BootInfo) -> &'static PlatformSummary {
    let platform = acpi::init(boot.rsdp);
    let apic_mode = apic::init_bsp();
    pic::disable();
    let io_apic_pins = ioapic::init(&platform.io_apics, &platform.isa_overrides);

    let calibration = calibrate::calibrate(platform.hpet);
    crate::time::set_tsc_hz(calibration.tsc_hz, boot.entry_tsc);
    apic::set_timer_ticks_per_ms(calibration.apic_ticks_per_ms);

    let stack_top =
        VirtAddr::from_ptr(&raw const super::BOOT_STACK) + super::BOOT_STACK_BYTES as u64;
    let tss = BSP_TSS.get().expect("bringup::early not run");
    percpu::install(percpu::create(0, apic::id(), stack_top, tss));

    apic::register_handlers();
    smp::register_handlers();
    crate::mm::shootdown::register_handler();
    if let Err(errno) = super::serial::enable_input() {
        crate::warn!("no console input: COM1's interrupt cannot be routed ({errno})");
    }
    let started = smp::start_aps(&platform.cpus);
    SUMMARY.call_once(|| PlatformSummary {
        cpus_listed: platform.cpus.len(),
        cpus_online: 1 + started,
        apic_mode,
        clock_source: calibration.source,
        tsc_hz: calibration.tsc_hz,
        apic_ticks_per_ms: calibration.apic_ticks_per_ms,
        io_apic_pins,
        power_off: platform.power_off.map(|_| ()),
    })
}
