//! The I/O APICs the MADT lists.  Every redirection entry starts masked;
//! drivers unmask the lines they own (`route`).

use super::acpi::IoApicEntry;
use spin::Mutex;

const REGISTER_SELECT: u64 = 0x00;
const REGISTER_WINDOW: u64 = 0x10;
const VERSION: u32 = 0x01;
const REDIRECTION_BASE: u32 = 0x10;
const MASKED: u32 = 1 << 16;

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

/// Maps every I/O APIC and masks all its pins.  Returns the total pin count.
pub fn init(entries: &[IoApicEntry]) -> u32 {
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

/// Routes global system interrupt `gsi` to `vector` on the CPU with
/// `apic_id` (edge-triggered, active high) and unmasks it.
pub fn route(gsi: u32, vector: u8, apic_id: u32) -> Result<(), abi::Errno> {
    let list = IO_APICS.lock();
    let io = list
        .iter()
        .find(|io| (io.gsi_base..io.gsi_base + io.pins).contains(&gsi))
        .ok_or(abi::Errno::ENODEV)?;
    let pin = gsi - io.gsi_base;
    io.write(REDIRECTION_BASE + 2 * pin + 1, apic_id << 24);
    io.write(REDIRECTION_BASE + 2 * pin, u32::from(vector));
    Ok(())
}

crate::ktest!(
    fn every_pin_starts_masked() {
        let list = IO_APICS.lock();
        crate::ensure!(!list.is_empty(), "the MADT listed no I/O APIC");
        for io in list.iter() {
            crate::ensure!(io.pins >= 16, "only {} pins", io.pins);
            for pin in 0..io.pins {
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
