//! What the boot protocol tells the kernel, in one protocol-neutral
//! [`BootInfo`].  The PVH entry (`arch::x86_64::boot`) fills it today; a
//! Limine or multiboot2 entry would fill the same structure.
//!
//! - `memmap`: the firmware memory map and the boot-time frame carving;
//! - `cmdline`: kernel command-line options.

pub mod cmdline;
pub mod memmap;

use memmap::{MemoryMap, PhysRange};

static INFO: spin::Once<BootInfo> = spin::Once::new();

/// Keeps the boot protocol's answer for the life of the kernel.
pub fn install(info: BootInfo) -> &'static BootInfo {
    INFO.call_once(|| info)
}

/// The `BootInfo` the kernel booted with.
pub fn info() -> &'static BootInfo {
    INFO.get().expect("boot::install not done")
}

/// Everything the kernel learns from the boot protocol.
pub struct BootInfo {
    /// Which protocol booted us, for the log.
    pub protocol: &'static str,
    /// The normalized firmware memory map.
    pub memory_map: MemoryMap,
    /// Physical address of the ACPI RSDP, when the loader found one.
    pub rsdp: Option<u64>,
    /// The kernel command line.
    pub cmdline: Cmdline,
    /// The initrd module (the initfs), if one was passed.
    pub initrd: Option<PhysRange>,
    /// TSC at the first instruction of the kernel.
    pub entry_tsc: u64,
}

/// The command line, copied out of loader memory.
pub struct Cmdline {
    bytes: [u8; Self::CAPACITY],
    len: usize,
}

impl Cmdline {
    /// Longest command line kept; the rest is cut at a character boundary.
    pub const CAPACITY: usize = 2048;

    pub const fn empty() -> Self {
        Self {
            bytes: [0; Self::CAPACITY],
            len: 0,
        }
    }

    /// Copies a NUL-terminated string.
    ///
    /// # Safety
    ///
    /// `text` must be readable up to its NUL or `CAPACITY` bytes, whichever
    /// comes first.
    pub unsafe fn fill_from(&mut self, text: *const u8) {
        let mut len = 0;
        while len < Self::CAPACITY {
            // SAFETY: within the readable prefix, per the contract.
            let byte = unsafe { text.add(len).read() };
            if byte == 0 {
                break;
            }
            self.bytes[len] = byte;
            len += 1;
        }
        self.len = len;
    }

    /// The valid UTF-8 prefix of the command line.
    pub fn as_str(&self) -> &str {
        let bytes = &self.bytes[..self.len];
        match core::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                // Keep what decodes; the tail is reported by the parser's
                // caller as truncated.
                core::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or("")
            }
        }
    }
}

crate::ktest!(
    fn boot_info_is_consistent() {
        let boot = info();
        let regions = boot.memory_map.regions();
        crate::ensure!(!regions.is_empty(), "empty memory map");
        for pair in regions.windows(2) {
            crate::ensure!(
                pair[0].end <= pair[1].start,
                "overlapping or unsorted regions: {pair:?}"
            );
        }
        crate::ensure!(
            boot.memory_map.usable_bytes() >= 64 << 20,
            "less than 64 MiB usable"
        );
        crate::ensure!(
            boot.cmdline.as_str().contains("ktest"),
            "command line {:?} lost",
            boot.cmdline.as_str()
        );
        crate::ensure!(boot.rsdp.is_some(), "no RSDP from the loader");
        Ok(())
    }
);
