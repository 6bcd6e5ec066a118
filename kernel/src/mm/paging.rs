//! The kernel page tables.
//!
//! [`init`] replaces the stub's early tables with the final ones:
//!
//! - the direct map of all RAM at `DIRECT_MAP_BASE`, 2 MiB pages, RW + NX;
//! - the kernel image at `KERNEL_BASE + physical`, 4 KiB pages, with the
//!   linker script's sections: text RX, rodata R + NX, data/bss RW + NX;
//! - an empty PDPT for the kernel-stack region, so every later address
//!   space that copies the kernel half of the PML4 sees new stacks too;
//! - no identity map: user space starts out empty.
//!
//! Kernel mappings are global (they survive CR3 switches).  After `init`,
//! [`map_mmio`] and `kstack` add 4 KiB mappings under the lock.

use super::frame::global::PageTableFrames;
use super::{DIRECT_MAP_BASE, KERNEL_BASE, KSTACK_BASE, PAGE_SIZE, phys_to_virt};
use crate::boot::memmap::{MemoryKind, MemoryMap};
use spin::Mutex;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::mapper::MapToError;
use x86_64::structures::paging::{
    Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as Flags, PhysFrame, Size2MiB,
    Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

const HUGE: u64 = 2 * 1024 * 1024;

static KERNEL_TABLE: Mutex<Option<OffsetPageTable<'static>>> = Mutex::new(None);

unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
}

fn symbol(address: &u8) -> u64 {
    address as *const u8 as u64
}

/// NX where the CPU has it; the bit is reserved (and faults) otherwise.
fn no_execute() -> Flags {
    if crate::arch::cpu::features().nx {
        Flags::NO_EXECUTE
    } else {
        Flags::empty()
    }
}

/// Builds the kernel page tables and switches to them.  Only frames below
/// 4 GiB may be in the allocator yet: the early direct map covers no more.
pub fn init(map: &MemoryMap) {
    let pml4_phys = super::frame::global::alloc_zeroed(0).expect("no frame for the kernel PML4");
    // SAFETY: the frame is fresh, zeroed and reachable through the direct
    // map; it becomes the kernel's PML4 and is never freed.
    let pml4 = unsafe { &mut *phys_to_virt(pml4_phys.as_u64()).as_mut_ptr::<PageTable>() };
    // SAFETY: the direct map covers every frame a page table can live in.
    let mut table = unsafe { OffsetPageTable::new(pml4, VirtAddr::new(DIRECT_MAP_BASE)) };
    let data = Flags::PRESENT | Flags::WRITABLE | Flags::GLOBAL | no_execute();

    for region in map.regions() {
        let ram = matches!(
            region.kind,
            MemoryKind::Usable | MemoryKind::AcpiReclaimable | MemoryKind::AcpiNvs
        );
        if !ram {
            continue;
        }
        let mut phys = region.start & !(HUGE - 1);
        while phys < region.end {
            let page = Page::<Size2MiB>::containing_address(phys_to_virt(phys));
            let frame = PhysFrame::<Size2MiB>::containing_address(PhysAddr::new(phys));
            // SAFETY: the direct map aliases RAM at a fixed offset; nothing
            // else is mapped in this range.
            match unsafe { table.map_to(page, frame, data, &mut PageTableFrames) } {
                Ok(flush) => flush.ignore(),
                Err(MapToError::PageAlreadyMapped(_)) => {}
                Err(error) => panic!("direct map of {phys:#x}: {error:?}"),
            }
            phys += HUGE;
        }
    }

    // SAFETY: the linker script defines these symbols at page boundaries.
    let sections = unsafe {
        [
            (
                symbol(&__text_start),
                symbol(&__text_end),
                Flags::PRESENT | Flags::GLOBAL,
            ),
            (
                symbol(&__rodata_start),
                symbol(&__rodata_end),
                Flags::PRESENT | Flags::GLOBAL | no_execute(),
            ),
            (symbol(&__data_start), symbol(&__data_end), data),
        ]
    };
    for (start, end, flags) in sections {
        for virt in (start..end).step_by(PAGE_SIZE as usize) {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
            let frame = PhysFrame::containing_address(PhysAddr::new(virt - KERNEL_BASE));
            // SAFETY: maps the kernel image onto itself, as the linker laid it out.
            unsafe { table.map_to(page, frame, flags, &mut PageTableFrames) }
                .expect("mapping the kernel image")
                .ignore();
        }
    }

    let kstack_pdpt =
        super::frame::global::alloc_zeroed(0).expect("no frame for the kernel-stack PDPT");
    let index = VirtAddr::new(KSTACK_BASE).p4_index();
    table.level_4_table_mut()[index].set_addr(kstack_pdpt, Flags::PRESENT | Flags::WRITABLE);

    // SAFETY: the new tables map the running code, its stack and all data
    // at the same addresses as the early tables; only the identity map of
    // low memory goes away, and nothing uses it any more.
    unsafe { Cr3::write(PhysFrame::containing_address(pml4_phys), Cr3Flags::empty()) };
    *KERNEL_TABLE.lock() = Some(table);
    crate::arch::nmi::set_kernel_table(pml4_phys.as_u64());
}

/// The physical address of the kernel PML4, for CPUs that are coming up.
pub fn kernel_pml4() -> PhysAddr {
    let guard = KERNEL_TABLE.lock();
    let table = guard.as_ref().expect("paging::init not done");
    let virt = VirtAddr::from_ptr(table.level_4_table() as *const PageTable);
    super::virt_to_phys(virt).expect("PML4 lies in the direct map")
}

/// Makes the kernel-only page table current on this CPU (an idle CPU
/// needs no user space, and a space can only be freed when no CPU uses it).
///
/// The space left stays noted as in use until the CR3 write
/// (`shootdown::switch_to`): it is freed only once no CPU notes it
/// (`Process::finish`).
pub fn activate_kernel() {
    let pml4 = kernel_pml4();
    super::shootdown::switch_to(pml4.as_u64(), || {
        // SAFETY: the kernel PML4 maps everything kernel code touches.
        unsafe { Cr3::write(PhysFrame::containing_address(pml4), Cr3Flags::empty()) };
    });
}

/// Drops every non-global TLB entry on this CPU (the user half's: the
/// kernel's mappings are global).
pub fn flush_all_user() {
    let (frame, flags) = Cr3::read();
    // SAFETY: reloads the page table already in use.
    unsafe { Cr3::write(frame, flags) };
}

/// Maps `[phys, phys + len)` uncached at its direct-map address and returns
/// that address.  Pages already mapped (RAM, or an earlier call) are kept.
pub fn map_mmio(phys: u64, len: u64) -> VirtAddr {
    let flags = Flags::PRESENT
        | Flags::WRITABLE
        | Flags::NO_CACHE
        | Flags::WRITE_THROUGH
        | Flags::GLOBAL
        | no_execute();
    map_range(phys, len, flags);
    phys_to_virt(phys)
}

/// Maps `[phys, phys + len)` cached at its direct-map address (firmware
/// tables outside RAM regions).
pub fn map_firmware(phys: u64, len: u64) -> VirtAddr {
    map_range(phys, len, Flags::PRESENT | Flags::GLOBAL | no_execute());
    phys_to_virt(phys)
}

fn map_range(phys: u64, len: u64, flags: Flags) {
    let _irq = crate::arch::InterruptGuard::new();
    let mut guard = KERNEL_TABLE.lock();
    let table = guard.as_mut().expect("paging::init not done");
    let end = phys.saturating_add(len.max(1));
    for frame_phys in (phys & !(PAGE_SIZE - 1)..end).step_by(PAGE_SIZE as usize) {
        let page = Page::<Size4KiB>::containing_address(phys_to_virt(frame_phys));
        let frame = PhysFrame::containing_address(PhysAddr::new(frame_phys));
        // SAFETY: the direct map aliases physical memory at a fixed offset;
        // a page that is already mapped is left as it is.
        match unsafe { table.map_to(page, frame, flags, &mut PageTableFrames) } {
            Ok(flush) => flush.flush(),
            Err(MapToError::PageAlreadyMapped(_) | MapToError::ParentEntryHugePage) => {}
            Err(error) => panic!("mapping {frame_phys:#x}: {error:?}"),
        }
    }
}

/// Maps one kernel page at `virt` onto `frame` (for `kstack`).
pub fn map_kernel_page(virt: VirtAddr, frame: PhysAddr, flags: Flags) {
    let _irq = crate::arch::InterruptGuard::new();
    let mut guard = KERNEL_TABLE.lock();
    let table = guard.as_mut().expect("paging::init not done");
    let page = Page::<Size4KiB>::containing_address(virt);
    // SAFETY: the caller hands a fresh frame for an unused kernel page.
    unsafe {
        table.map_to(
            page,
            PhysFrame::containing_address(frame),
            flags,
            &mut PageTableFrames,
        )
    }
    .expect("mapping a kernel page")
    .flush();
}

/// The physical address and leaf flags behind `virt` in the current
/// address space.  Walks the tables read-only through the direct map and
/// takes no lock, so it is safe in fault and panic paths.
pub fn translate(virt: u64) -> Option<(PhysAddr, Flags)> {
    let (root, _) = Cr3::read();
    translate_in(root.start_address(), virt)
}

/// Like [`translate`], in the address space whose PML4 is at `pml4`.
pub fn translate_in(pml4: PhysAddr, virt: u64) -> Option<(PhysAddr, Flags)> {
    let virt = VirtAddr::try_new(virt).ok()?;
    let mut table_phys = pml4.as_u64();
    let indices = [
        virt.p4_index(),
        virt.p3_index(),
        virt.p2_index(),
        virt.p1_index(),
    ];
    for (level, index) in indices.into_iter().enumerate() {
        let entry_addr = phys_to_virt(table_phys + 8 * u64::from(u16::from(index)));
        // SAFETY: page tables live in RAM, which the direct map covers; the
        // read is of a plain u64 entry.
        let entry = unsafe { entry_addr.as_ptr::<u64>().read_volatile() };
        let flags = Flags::from_bits_truncate(entry);
        if !flags.contains(Flags::PRESENT) {
            return None;
        }
        let frame = entry & 0x000f_ffff_ffff_f000;
        let huge = flags.contains(Flags::HUGE_PAGE) && level > 0;
        if level == 3 || huge {
            let page_bytes = 1u64 << (12 + 9 * (3 - level));
            let frame = frame & !(page_bytes - 1);
            return Some((
                PhysAddr::new(frame + (virt.as_u64() & (page_bytes - 1))),
                flags,
            ));
        }
        table_phys = frame;
    }
    None
}

/// Whether `virt` is mapped in the current address space.
pub fn is_mapped(virt: u64) -> bool {
    translate(virt).is_some()
}

crate::ktest!(
    fn kernel_sections_have_their_permissions() {
        let nx = no_execute();
        // SAFETY: linker-script symbols; only their addresses are used.
        let (text, rodata, data) = unsafe {
            (
                symbol(&__text_start),
                symbol(&__rodata_start),
                symbol(&__data_start),
            )
        };
        let (_, text_flags) = translate(text).ok_or("text unmapped")?;
        crate::ensure!(!text_flags.contains(Flags::WRITABLE), "text is writable");
        crate::ensure!(
            !text_flags.contains(Flags::NO_EXECUTE),
            "text is not executable"
        );
        let (_, rodata_flags) = translate(rodata).ok_or("rodata unmapped")?;
        crate::ensure!(
            !rodata_flags.contains(Flags::WRITABLE),
            "rodata is writable"
        );
        crate::ensure!(rodata_flags.contains(nx), "rodata is executable");
        let (_, data_flags) = translate(data).ok_or("data unmapped")?;
        crate::ensure!(
            data_flags.contains(Flags::WRITABLE | nx),
            "data flags {data_flags:?}"
        );
        // The stack of the running code is data too.
        let local = 0u64;
        let (_, stack_flags) = translate(&local as *const u64 as u64).ok_or("stack unmapped")?;
        crate::ensure!(
            stack_flags.contains(Flags::WRITABLE | nx),
            "stack flags {stack_flags:?}"
        );
        Ok(())
    }
);

crate::ktest!(
    fn no_identity_map_remains() {
        for low in [0x0u64, 0x8000, 0x10_0000, 0x20_0000, 0x4000_0000] {
            crate::ensure!(!is_mapped(low), "{low:#x} is still identity-mapped");
        }
        Ok(())
    }
);

crate::ktest!(
    fn direct_map_covers_ram_and_mmio_is_uncached() {
        let boot = crate::boot::info();
        let end = boot.memory_map.end_of_usable();
        for probe in [0x10_0000, end / 2, end - 1] {
            let (phys, flags) =
                translate(phys_to_virt(probe).as_u64()).ok_or("RAM hole in the direct map")?;
            crate::ensure_eq!(phys.as_u64(), probe);
            crate::ensure!(
                flags.contains(Flags::WRITABLE | no_execute()),
                "direct map flags {flags:?}"
            );
        }
        // The I/O APIC register page was mapped with map_mmio.
        let (_, flags) =
            translate(phys_to_virt(0xfec0_0000).as_u64()).ok_or("I/O APIC unmapped")?;
        crate::ensure!(flags.contains(Flags::NO_CACHE), "MMIO is cached: {flags:?}");
        Ok(())
    }
);
