//! The I/O APICs the MADT lists.  Every redirection entry starts masked;
//! drivers unmask the lines they own (`route`).

use super::acpi::{IoApicEntry, IsaOverride};
use spin::Mutex;

const REGISTER_SELECT: u64 = 0x00;
const REGISTER_WINDOW: u64 = 0x10;
const VERSION: u32 = 0x01;
const REDIRECTION_BASE: u32 = 0x10;
const MASKED: u32 = 1 << 16;
const ACTIVE_LOW: u32 = 1 << 13;
const LEVEL_TRIGGERED: u32 = 1 << 15;

struct IoApic {
    base: u64,
    gsi_base: u32,
    pins: u32,
}

impl IoApic {
    fn read(&self, register: u32) -> u32 {
        // SAFETY: `base` maps this I/O APIC uncached; select, then window.
        unsafe {
            ((self.base + REGISTER_SELECT) as *mut u32).write_volatile(register);
            ((self.base + REGISTER_WINDOW) as *const u32).read_volatile()
        }
    }

    fn write(&self, register: u32, value: u32) {
        // SAFETY: as in `read`.
        unsafe {
            ((self.base + REGISTER_SELECT) as *mut u32).write_volatile(register);
            ((self.base + REGISTER_WINDOW) as *mut u32).write_volatile(value);
        }
    }
}

static IO_APICS: Mutex<alloc::vec::Vec<IoApic>> = Mutex::new(alloc::vec::Vec::new());
static ISA_OVERRIDES: Mutex<alloc::vec::Vec<IsaOverride>> = Mutex::new(alloc::vec::Vec::new());
/// The GSIs drivers have unmasked (`route`).
static ROUTED: Mutex<alloc::vec::Vec<u32>> = Mutex::new(alloc::vec::Vec::new());

/// Maps every I/O APIC and masks all its pins, and keeps the MADT's ISA
/// overrides for [`route_isa`].  Returns the total pin count.
pub fn init(entries: &[IoApicEntry], overrides: &[IsaOverride]) -> u32 {
    ISA_OVERRIDES.lock().extend_from_slice(overrides);
    let mut list = IO_APICS.lock();
    for entry in entries {
        let base = crate::mm::paging::map_mmio(entry.address, 4096).as_u64();
        let mut io_apic = IoApic {
            base,
            gsi_base: entry.gsi_base,
            pins: 0,
        };
        io_apic.pins = ((io_apic.read(VERSION) >> 16) & 0xff) + 1;
        for pin in 0..io_apic.pins {
            io_apic.write(REDIRECTION_BASE + 2 * pin, MASKED);
            io_apic.write(REDIRECTION_BASE + 2 * pin + 1, 0);
        }
        list.push(io_apic);
    }
    list.iter().map(|io| io.pins).sum()
}

/// Routes ISA interrupt `irq` to `vector` on the CPU with `apic_id`,
/// through the MADT's override for it if there is one (ISA lines are
/// edge-triggered and active high unless the override says otherwise).
pub fn route_isa(irq: u8, vector: u8, apic_id: u32) -> Result<(), abi::Errno> {
    let found = ISA_OVERRIDES
        .lock()
        .iter()
        .find(|entry| entry.irq == irq)
        .copied();
    let (gsi, mut mode) = (found.map_or(u32::from(irq), |entry| entry.gsi), 0);
    if let Some(entry) = found {
        // MPS INTI flags: polarity 0b11 = active low; trigger 0b11 = level.
        if entry.flags & 0b11 == 0b11 {
            mode |= ACTIVE_LOW;
        }
        if (entry.flags >> 2) & 0b11 == 0b11 {
            mode |= LEVEL_TRIGGERED;
        }
    }
    route(gsi, vector, apic_id, mode)
}

/// Routes global system interrupt `gsi` to `vector` on the CPU with
/// `apic_id`, with the polarity and trigger bits of `mode`, and unmasks it.
fn route(gsi: u32, vector: u8, apic_id: u32, mode: u32) -> Result<(), abi::Errno> {
    let list = IO_APICS.lock();
    let io = list
        .iter()
        .find(|io| (io.gsi_base..io.gsi_base + io.pins).contains(&gsi))
        .ok_or(abi::Errno::ENODEV)?;
    let pin = gsi - io.gsi_base;
    io.write(REDIRECTION_BASE + 2 * pin + 1, apic_id << 24);
    io.write(REDIRECTION_BASE + 2 * pin, u32::from(vector) | mode);
    ROUTED.lock().push(gsi);
    Ok(())
}

crate::ktest!(
    fn every_pin_no_driver_owns_is_masked() {
        let routed = ROUTED.lock().clone();
        let list = IO_APICS.lock();
        crate::ensure!(!list.is_empty(), "the MADT listed no I/O APIC");
        for io in list.iter() {
            crate::ensure!(io.pins >= 16, "only {} pins", io.pins);
            for pin in (0..io.pins).filter(|pin| !routed.contains(&(io.gsi_base + pin))) {
                let low = io.read(REDIRECTION_BASE + 2 * pin);
                crate::ensure!(
                    low & MASKED != 0,
                    "pin {pin} of the I/O APIC at GSI {} is unmasked",
                    io.gsi_base
                );
            }
        }
        Ok(())
    }
);
