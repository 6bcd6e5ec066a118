//! The hand-off from the 32-bit stub: parse the PVH start info into the
//! protocol-neutral [`BootInfo`] and call `kmain`.

use crate::boot::memmap::{MemoryKind, MemoryMap, PhysRange};
use crate::boot::{BootInfo, Cmdline};
use crate::mm::phys_to_virt;

const PVH_MAGIC: u32 = 0x336e_c578;

/// `hvm_start_info`, from Xen's public `arch-x86/hvm/start_info.h`.
#[repr(C)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    module_count: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

#[repr(C)]
struct ModlistEntry {
    paddr: u64,
    size: u64,
    cmdline_paddr: u64,
    reserved: u64,
}

#[repr(C)]
struct MemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// Called by the 32-bit stub on the boot stack, with the early page tables
/// (identity and direct map of the first 4 GiB, and the kernel) loaded.
pub extern "C" fn kernel_entry(start_info_phys: u64, entry_tsc: u64) -> ! {
    super::serial::init();
    // SAFETY: the PVH protocol hands us the start info's physical address in
    // EBX; it and everything it points to lie in the first 4 GiB, which the
    // early direct map covers.
    let info = unsafe { parse_start_info(start_info_phys, entry_tsc) };
    crate::kmain(crate::boot::install(info))
}

/// Reads the start info and the tables it points to.
///
/// # Safety
///
/// `phys` must be the physical address of a valid `hvm_start_info` whose
/// pointers are readable through the direct map.
unsafe fn parse_start_info(phys: u64, entry_tsc: u64) -> BootInfo {
    // SAFETY: per this function's contract.
    let start = unsafe { &*phys_to_virt(phys).as_ptr::<StartInfo>() };
    if start.magic != PVH_MAGIC {
        panic!("PVH start info has bad magic {:#x}", start.magic);
    }
    if start.version < 1 || start.memmap_paddr == 0 {
        panic!(
            "PVH start info version {} carries no memory map",
            start.version
        );
    }

    let mut memory_map = MemoryMap::new();
    for index in 0..start.memmap_entries as usize {
        // SAFETY: the start info says `memmap_entries` entries live here.
        let entry = unsafe {
            &*phys_to_virt(start.memmap_paddr)
                .as_ptr::<MemmapEntry>()
                .add(index)
        };
        if memory_map
            .push(entry.addr, entry.size, MemoryKind::from_e820(entry.kind))
            .is_err()
        {
            crate::warn!(
                "boot: memory map has more than {} entries; the rest are ignored",
                crate::boot::memmap::MAX_REGIONS
            );
            break;
        }
    }
    memory_map.normalize();

    let initrd = (start.module_count > 0 && start.modlist_paddr != 0).then(|| {
        // SAFETY: the start info says at least one module entry lives here.
        let module = unsafe { &*phys_to_virt(start.modlist_paddr).as_ptr::<ModlistEntry>() };
        PhysRange {
            start: module.paddr,
            end: module.paddr + module.size,
        }
    });

    let mut cmdline = Cmdline::empty();
    if start.cmdline_paddr != 0 {
        let text = phys_to_virt(start.cmdline_paddr).as_ptr::<u8>();
        // SAFETY: the command line is a NUL-terminated string; `fill_from`
        // stops at the NUL or at its capacity.
        unsafe { cmdline.fill_from(text) };
    }

    BootInfo {
        protocol: "PVH",
        memory_map,
        rsdp: (start.rsdp_paddr != 0).then_some(start.rsdp_paddr),
        cmdline,
        initrd,
        entry_tsc,
    }
}
