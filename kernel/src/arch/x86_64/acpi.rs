//! ACPI through the `acpi` crate: the MADT gives the CPUs and the I/O
//! APICs, the HPET table the reference clock, and the FADT plus the DSDT's
//! `\_S5_` the soft-off sequence.
//!
//! Tables are read through the direct map; pages outside RAM are mapped
//! cached on demand (`paging::map_firmware`).

use crate::firmware::s5;
use ::acpi::madt::{Madt, MadtEntry};
use ::acpi::{AcpiHandler, AcpiTables, HpetInfo, PhysicalMapping, fadt::Fadt};
use alloc::vec::Vec;
use core::ptr::NonNull;
use x86_64::instructions::port::Port;

#[derive(Clone, Copy)]
struct DirectMap;

impl AcpiHandler for DirectMap {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let virt = crate::mm::paging::map_firmware(physical_address as u64, size as u64);
        let pointer =
            NonNull::new(virt.as_mut_ptr::<T>()).expect("direct-map address is never null");
        // SAFETY: the region is mapped at `pointer` for `size` bytes and stays
        // mapped forever (the direct map is never torn down).
        unsafe { PhysicalMapping::new(physical_address, pointer, size, size, *self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// A CPU the MADT lists as usable.
#[derive(Clone, Copy, Debug)]
pub struct CpuEntry {
    pub apic_id: u32,
}

/// How an ISA IRQ reaches the I/O APIC, when the MADT overrides the
/// identity mapping (QEMU moves IRQ 0 to GSI 2, for one).
#[derive(Clone, Copy, Debug)]
pub struct IsaOverride {
    pub irq: u8,
    pub gsi: u32,
    /// MPS INTI flags: polarity in bits 0-1, trigger mode in bits 2-3.
    pub flags: u16,
}

#[derive(Clone, Copy, Debug)]
pub struct IoApicEntry {
    pub id: u8,
    pub address: u64,
    pub gsi_base: u32,
}

/// The register writes that power the machine off.
#[derive(Clone, Copy, Debug)]
pub struct PowerOff {
    pm1a_control: u16,
    pm1b_control: Option<u16>,
    sleep: s5::SleepType,
    smi_command: u16,
    acpi_enable: u8,
}

/// What the kernel takes from ACPI.
pub struct Platform {
    pub cpus: Vec<CpuEntry>,
    pub io_apics: Vec<IoApicEntry>,
    pub isa_overrides: Vec<IsaOverride>,
    pub hpet: Option<u64>,
    pub power_off: Result<PowerOff, &'static str>,
}

static POWER_OFF: spin::Once<Result<PowerOff, &'static str>> = spin::Once::new();

/// Reads the tables.  Without ACPI the kernel cannot find the other CPUs,
/// so a missing RSDP is fatal.
pub fn init(rsdp: Option<u64>) -> Platform {
    // SAFETY: the RSDP address comes from the boot protocol (or the BIOS
    // search), and the handler maps whatever the tables point to.
    let tables = unsafe {
        match rsdp {
            Some(address) => AcpiTables::from_rsdp(DirectMap, address as usize),
            None => AcpiTables::search_for_rsdp_bios(DirectMap),
        }
    }
    .unwrap_or_else(|error| panic!("ACPI tables unusable: {error:?}"));

    let (cpus, io_apics, isa_overrides) = read_madt(&tables);
    let hpet = HpetInfo::new(&tables)
        .ok()
        .map(|info| info.base_address as u64);
    let power_off = read_power_off(&tables);
    POWER_OFF.call_once(|| power_off);
    Platform {
        cpus,
        io_apics,
        isa_overrides,
        hpet,
        power_off,
    }
}

type MadtLists = (Vec<CpuEntry>, Vec<IoApicEntry>, Vec<IsaOverride>);

fn read_madt(tables: &AcpiTables<DirectMap>) -> MadtLists {
    let madt = tables
        .find_table::<Madt>()
        .unwrap_or_else(|error| panic!("no MADT: {error:?}"));
    let (mut cpus, mut io_apics, mut overrides) = (Vec::new(), Vec::new(), Vec::new());
    const ENABLED: u32 = 1;
    const ONLINE_CAPABLE: u32 = 2;
    for entry in madt.get().entries() {
        match entry {
            MadtEntry::LocalApic(local) if local.flags & (ENABLED | ONLINE_CAPABLE) != 0 => {
                cpus.push(CpuEntry {
                    apic_id: u32::from(local.apic_id),
                });
            }
            MadtEntry::LocalX2Apic(local) if local.flags & (ENABLED | ONLINE_CAPABLE) != 0 => {
                cpus.push(CpuEntry {
                    apic_id: local.x2apic_id,
                });
            }
            MadtEntry::IoApic(io) => io_apics.push(IoApicEntry {
                id: io.io_apic_id,
                address: u64::from(io.io_apic_address),
                gsi_base: io.global_system_interrupt_base,
            }),
            MadtEntry::InterruptSourceOverride(entry) if entry.bus == 0 => {
                overrides.push(IsaOverride {
                    irq: entry.irq,
                    gsi: entry.global_system_interrupt,
                    flags: entry.flags,
                });
            }
            _ => {}
        }
    }
    (cpus, io_apics, overrides)
}

fn read_power_off(tables: &AcpiTables<DirectMap>) -> Result<PowerOff, &'static str> {
    let fadt = tables.find_table::<Fadt>().map_err(|_| "no FADT")?;
    let io_port = |address: ::acpi::address::GenericAddress| match address.address_space {
        ::acpi::address::AddressSpace::SystemIo => u16::try_from(address.address).ok(),
        _ => None,
    };
    let pm1a_control = fadt
        .pm1a_control_block()
        .ok()
        .and_then(io_port)
        .ok_or("PM1a control block is not an I/O port")?;
    let pm1b_control = fadt.pm1b_control_block().ok().flatten().and_then(io_port);
    let dsdt = tables.dsdt().map_err(|_| "no DSDT")?;
    let aml = crate::mm::paging::map_firmware(dsdt.address as u64, u64::from(dsdt.length));
    // SAFETY: the DSDT's AML stream is mapped above for its full length and
    // firmware never changes it.
    let aml = unsafe { core::slice::from_raw_parts(aml.as_ptr::<u8>(), dsdt.length as usize) };
    let sleep = s5::find(aml).ok_or("the DSDT declares no static \\_S5_ package")?;
    Ok(PowerOff {
        pm1a_control,
        pm1b_control,
        sleep,
        smi_command: u16::try_from(fadt.smi_cmd_port).unwrap_or(0),
        acpi_enable: fadt.acpi_enable,
    })
}

/// Why power-off is not available, if it is not.
pub fn power_off_unavailable() -> Option<&'static str> {
    POWER_OFF.get().and_then(|p| p.err())
}

/// Enters ACPI S5 (soft-off).  Returns only if the machine ignored it.
pub fn power_off() -> &'static str {
    let Some(Ok(power)) = POWER_OFF.get() else {
        return power_off_unavailable().unwrap_or("ACPI was not initialized");
    };
    const SCI_ENABLED: u16 = 1;
    const SLEEP_ENABLE: u16 = 1 << 13;
    let _irq = super::InterruptGuard::new();
    // SAFETY: the FADT names these ports as the PM1 control blocks and the
    // SMI command port; writing the sleep type with SLP_EN is the ACPI
    // soft-off sequence.
    unsafe {
        let mut pm1a = Port::<u16>::new(power.pm1a_control);
        if pm1a.read() & SCI_ENABLED == 0 && power.smi_command != 0 && power.acpi_enable != 0 {
            // Hand the chipset from SMM to the OS (ACPI mode) first.
            Port::<u8>::new(power.smi_command).write(power.acpi_enable);
            for _ in 0..1_000_000 {
                if pm1a.read() & SCI_ENABLED != 0 {
                    break;
                }
                core::hint::spin_loop();
            }
        }
        if let Some(pm1b) = power.pm1b_control {
            Port::<u16>::new(pm1b).write((u16::from(power.sleep.pm1b) << 10) | SLEEP_ENABLE);
        }
        pm1a.write((u16::from(power.sleep.pm1a) << 10) | SLEEP_ENABLE);
    }
    crate::time::delay_us(100_000);
    "the machine did not power off after the S5 write"
}

crate::ktest!(
    fn soft_off_is_known() {
        // QEMU's DSDT declares a static `\_S5_`, and its FADT an I/O PM1a block.
        match POWER_OFF.get() {
            Some(Ok(power)) => {
                crate::ensure!(power.pm1a_control != 0, "PM1a control port is zero");
                Ok(())
            }
            Some(Err(reason)) => Err(alloc::format!("power-off unavailable: {reason}")),
            None => Err("ACPI not initialized".into()),
        }
    }
);
