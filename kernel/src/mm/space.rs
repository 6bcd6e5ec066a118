//! A user address space: a PML4 of its own whose upper half is the
//! kernel's, and the user pages mapped in its lower half.
//!
//! ```text
//! PML4[0..256)    user: owned by this Space (tables and frames)
//! PML4[256..512)  kernel: the same entries as the kernel's PML4, so every
//!                 space sees the direct map, the kernel stacks and the image
//! ```
//!
//! Every frame mapped in the lower half, and every table under it, belongs
//! to the space and is freed when the space drops (the kernel-only page
//! table must be active by then).  Regions, sharing and copy-on-write (the
//! memory model of DESIGN.md section 8) build on this.

use super::frame::global::{self as frames, PageTableFrames};
use super::region::{self, PageRange, Region, RegionFlags, RegionTree};
use super::shootdown::Gather;
use super::{DIRECT_MAP_BASE, PAGE_SIZE, phys_to_virt};
use crate::proc::elf::{LoadPlan, USER_END, USER_MIN};
use abi::Errno;
use alloc::vec::Vec;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::mapper::MapToError;
use x86_64::structures::paging::{
    Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as Flags, PhysFrame, Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

/// Where `MMAP` places a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Exactly here, replacing what `MMAP` mapped there before.
    Fixed(u64),
    /// Anywhere in [`MMAP_AREA`] that is free, `hint` first if it is.
    Anywhere { hint: u64 },
}

/// Where `MMAP` places mappings that are not fixed: above the programs'
/// images and below the thread stacks (`proc::process::THREAD_STACK_AREA`),
/// the ring and the main stack.
pub const MMAP_AREA: PageRange = PageRange::between(0x0000_1000_0000_0000, 0x0000_7e00_0000_0000);

/// Page protections for user mappings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protection {
    pub writable: bool,
    pub executable: bool,
}

/// What backs a region's pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Mapped when the region was made (the ELF image, stacks): a fault
    /// there is never resolved.
    Eager,
    /// Frames the space does not own (a ring's, which outlive the
    /// mapping): unmapped with the space, never freed by it.
    Borrowed,
    /// `MMAP` anonymous memory: zeroed frames mapped on first touch.
    Anonymous,
}

/// What a user page fault found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A page of an anonymous region not mapped yet: map a zeroed frame.
    DemandZero,
    /// No region, or one whose protection forbids the access: the process
    /// is killed.
    Violation,
}

/// The access a page fault's error code describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub present: bool,
    pub write: bool,
    pub fetch: bool,
}

impl Access {
    /// Decodes a #PF error code.
    pub fn from_error_code(code: u64) -> Self {
        Self {
            present: code & 1 != 0,
            write: code & 2 != 0,
            fetch: code & 16 != 0,
        }
    }
}

pub struct Space {
    pml4: PhysAddr,
    /// What each range is: the tree `MMAP`, `MUNMAP`, faults and the
    /// teardown consult.
    regions: RegionTree<Backing>,
}

impl Space {
    /// An empty user half over the kernel's upper half.
    pub fn new() -> Result<Self, Errno> {
        let pml4 = frames::alloc_zeroed(0).ok_or(Errno::ENOMEM)?;
        let kernel = super::paging::kernel_pml4();
        // SAFETY: both are page-table frames reachable through the direct
        // map; the new one is ours alone, the kernel's upper half is only
        // read.
        unsafe {
            let source = phys_to_virt(kernel.as_u64()).as_ptr::<u64>();
            let target = phys_to_virt(pml4.as_u64()).as_mut_ptr::<u64>();
            core::ptr::copy_nonoverlapping(source.add(256), target.add(256), 256);
        }
        Ok(Self {
            pml4,
            regions: RegionTree::new(),
        })
    }

    pub fn pml4(&self) -> PhysAddr {
        self.pml4
    }

    fn mapper(&mut self) -> OffsetPageTable<'_> {
        // SAFETY: the PML4 is this space's own frame, borrowed mutably with
        // `self`; the direct map covers every table frame.
        unsafe {
            OffsetPageTable::new(
                &mut *phys_to_virt(self.pml4.as_u64()).as_mut_ptr::<PageTable>(),
                VirtAddr::new(DIRECT_MAP_BASE),
            )
        }
    }

    /// Maps fresh zeroed frames over `[start, start + len)` (page-aligned,
    /// in the user half) and returns nothing mapped on failure.
    pub fn map_zeroed(
        &mut self,
        start: u64,
        len: u64,
        protection: Protection,
    ) -> Result<(), Errno> {
        self.map_zeroed_as(start, len, protection, RegionFlags::empty())
    }

    /// [`Space::map_zeroed`] of a region with `flags` (`STACK` for the
    /// stacks the kernel maps).
    pub fn map_zeroed_as(
        &mut self,
        start: u64,
        len: u64,
        protection: Protection,
        flags: RegionFlags,
    ) -> Result<(), Errno> {
        self.reserve_area(start, len, protection, flags)?;
        let mapped = self.map_pages(start, len, protection);
        if mapped.is_err() {
            self.regions.remove(PageRange::new(start, start + len)?);
        }
        mapped
    }

    /// Records `[start, start + len)` as a kernel region with `flags`
    /// whose pages the kernel maps later, piece by piece, with
    /// [`Space::map_pages`] (the thread-stack area: one region for every
    /// thread's stack, so a thread costs no region of its own).
    pub fn reserve_area(
        &mut self,
        start: u64,
        len: u64,
        protection: Protection,
        flags: RegionFlags,
    ) -> Result<(), Errno> {
        let end = Self::check_range(start, len)?;
        self.kernel_region(start, end, protection, flags, Backing::Eager)
    }

    fn check_range(start: u64, len: u64) -> Result<u64, Errno> {
        let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
        if !start.is_multiple_of(PAGE_SIZE)
            || !len.is_multiple_of(PAGE_SIZE)
            || len == 0
            || start < USER_MIN
            || end > USER_END
        {
            return Err(Errno::EINVAL);
        }
        Ok(end)
    }

    /// Maps fresh zeroed frames over `[start, start + len)`, which lies in
    /// a region already recorded; nothing stays mapped on failure.
    pub fn map_pages(&mut self, start: u64, len: u64, protection: Protection) -> Result<(), Errno> {
        let end = Self::check_range(start, len)?;
        let flags = page_flags(protection.writable, protection.executable);
        for page_start in (start..end).step_by(PAGE_SIZE as usize) {
            if let Err(errno) = self.map_one(page_start, flags) {
                self.unmap(start, page_start - start);
                return Err(errno);
            }
        }
        Ok(())
    }

    /// Records `[start, end)` as a region the kernel made (not `MMAP`'s:
    /// user calls cannot unmap or reprotect it).
    fn kernel_region(
        &mut self,
        start: u64,
        end: u64,
        protection: Protection,
        flags: RegionFlags,
        backing: Backing,
    ) -> Result<(), Errno> {
        let protection = region::Protection {
            readable: true,
            writable: protection.writable,
            executable: protection.executable,
        };
        let range = PageRange::new(start, end)?;
        let region = Region::new(
            range,
            protection,
            flags | RegionFlags::USER_ACCESSIBLE,
            backing,
            0,
        )?;
        self.regions.insert(region).map_err(|_| Errno::EEXIST)
    }

    /// `MMAP` of anonymous memory: records the region (pages come on first
    /// touch) at `fixed` exactly, or at a free place (`hint` first).
    /// Returns the address, and what a fixed mapping displaced: frames to
    /// free after the shootdown of the invalidations.
    pub fn map_anonymous(
        &mut self,
        placement: Placement,
        len: u64,
        protection: region::Protection,
        flags: RegionFlags,
    ) -> Result<(u64, Vec<PhysAddr>, Gather), Errno> {
        let len = region::mmap_len(len)?;
        let flags = flags | RegionFlags::MMAPPED | RegionFlags::USER_ACCESSIBLE;
        match placement {
            Placement::Fixed(addr) => {
                let range = PageRange::for_mmap_fixed(addr, len)?;
                let region = Region::new(range, protection, flags, Backing::Anonymous, 0)?;
                let displaced = self.regions.replace(region)?;
                let (frames, gather) = self.unhook_regions(displaced);
                Ok((addr, frames, gather))
            }
            Placement::Anywhere { hint } => {
                let start = self.regions.find_free(len, hint, MMAP_AREA)?;
                let range = PageRange::new(start, start + len)?;
                let region = Region::new(range, protection, flags, Backing::Anonymous, 0)?;
                self.regions.insert(region)?;
                Ok((start, Vec::new(), Gather::default()))
            }
        }
    }

    /// `MUNMAP`: removes what `MMAP` mapped in `range` (refused, changing
    /// nothing, over anything else).  Returns the frames to free after the
    /// shootdown of the invalidations.
    pub fn unmap_user(&mut self, addr: u64, len: u64) -> Result<(Vec<PhysAddr>, Gather), Errno> {
        let range = PageRange::for_munmap(addr, len)?;
        let removed = self.regions.unmap(range)?;
        Ok(self.unhook_regions(removed))
    }

    /// [`Space::unhook`] of each of `regions`, just taken out of the tree.
    fn unhook_regions(&mut self, regions: Vec<Region<Backing>>) -> (Vec<PhysAddr>, Gather) {
        let (mut frames, mut gather) = (Vec::new(), Gather::default());
        for old in regions {
            let (old_frames, old_gather) = self.unhook(old.start(), old.len_bytes());
            frames.extend(old_frames);
            gather.absorb(old_gather);
        }
        (frames, gather)
    }

    /// `MPROTECT`: gives `[addr, addr + len)` (MMAP's regions only, no
    /// holes) `protection`, and rewrites the entries of the pages mapped
    /// there.  Returns the invalidations for the shootdown.  `PROT_NONE`
    /// keeps a page present but takes its user bit away: any user access
    /// faults (and is a violation), the kernel's own accesses go through
    /// the direct map, and the frame stays the space's, so a later
    /// `MPROTECT` gives the data back.
    pub fn protect_user(
        &mut self,
        addr: u64,
        len: u64,
        protection: region::Protection,
    ) -> Result<Gather, Errno> {
        let range = PageRange::for_mprotect(addr, len)?;
        let mut gather = Gather::default();
        let flags = if protection == region::Protection::default() {
            Flags::PRESENT | nx_flag()
        } else {
            page_flags(protection.writable, protection.executable)
        };
        for (start, end) in self.regions.protect(range, protection)? {
            for page_start in (start..end).step_by(PAGE_SIZE as usize) {
                let page = Page::<Size4KiB>::containing_address(VirtAddr::new(page_start));
                // SAFETY: only the flags of a page this space mapped change;
                // the frame stays where it is.
                if let Ok(flush) = unsafe { self.mapper().update_flags(page, flags) } {
                    flush.ignore();
                    gather.page(page_start);
                }
            }
        }
        Ok(gather)
    }

    /// The stack region holding `rsp`, as `[start, end]` (a stack pointer
    /// at the very top is an empty stack), or `None`.
    pub fn stack_region_of(&self, rsp: u64) -> Option<(u64, u64)> {
        // `rsp` at a region's end belongs to the region below it.
        let probe = rsp.checked_sub(1)?;
        let region = self.regions.find(probe)?;
        region
            .flags()
            .contains(RegionFlags::STACK)
            .then(|| (region.start(), region.end()))
    }

    /// The regions as `VM_QUERY` records, in address order.
    pub fn query(&self) -> impl Iterator<Item = abi::file::VmRegion> + '_ {
        self.regions.iter().map(|region| {
            let protection = region.protection();
            let flags = region.flags();
            let bit = |flag: RegionFlags, value: u32| if flags.contains(flag) { value } else { 0 };
            abi::file::VmRegion {
                start: region.start(),
                end: region.end(),
                prot: abi::ProtFlags::from(protection).bits(),
                flags: bit(RegionFlags::USER_ACCESSIBLE, abi::file::VM_USER_ACCESSIBLE)
                    | bit(RegionFlags::STACK, abi::file::VM_STACK)
                    | bit(RegionFlags::MMAPPED, abi::file::VM_MMAPPED)
                    | bit(RegionFlags::SHARED, abi::file::VM_SHARED)
                    | bit(RegionFlags::COW, abi::file::VM_COW),
                offset: region.offset(),
            }
        })
    }

    /// What a user page fault at `addr` with `access` means.
    pub fn classify_fault(&self, addr: u64, access: Access) -> FaultKind {
        let Some(region) = self.regions.find(addr) else {
            return FaultKind::Violation;
        };
        let protection = region.protection();
        let allowed = if access.fetch {
            protection.executable
        } else if access.write {
            protection.writable
        } else {
            protection.readable
        };
        if allowed && !access.present && *region.object() == Backing::Anonymous {
            FaultKind::DemandZero
        } else {
            FaultKind::Violation
        }
    }

    /// Faults in the page at `page` for a kernel access on the user's
    /// behalf (an op's buffer): a demand-zero page of a region that allows
    /// the access gets a zeroed frame now.  Returns its translation;
    /// `EFAULT` where the user's own access would fault fatally, `ENOMEM`
    /// without a frame.
    pub fn populate(&mut self, page: u64, write: bool) -> Result<(PhysAddr, Flags), Errno> {
        let access = Access {
            present: false,
            write,
            fetch: false,
        };
        if self.classify_fault(page, access) != FaultKind::DemandZero {
            return Err(Errno::EFAULT);
        }
        let frame = frames::alloc_zeroed(0).ok_or(Errno::ENOMEM)?;
        if !self.map_demand_zero(page, frame) {
            frames::free(frame, 0);
        }
        self.translate(page).ok_or(Errno::EFAULT)
    }

    /// Maps `frame` (zeroed) at the page of `addr` if its region still
    /// wants a demand-zero page there and none is mapped yet.  `false`
    /// (the caller frees the frame) when another fault or an unmap got
    /// there first.
    pub fn map_demand_zero(&mut self, addr: u64, frame: PhysAddr) -> bool {
        let page_start = addr & !(PAGE_SIZE - 1);
        let Some(region) = self.regions.find(page_start) else {
            return false;
        };
        if *region.object() != Backing::Anonymous || self.translate(page_start).is_some() {
            return false;
        }
        let protection = region.protection();
        let flags = page_flags(protection.writable, protection.executable);
        self.map_fresh(page_start, frame, flags).is_ok()
    }

    /// Maps `frame`, which nothing else maps, at the page `virt` of the
    /// user half.  A page that was not present was never cached in a TLB:
    /// no flush is needed.
    fn map_fresh(
        &mut self,
        virt: u64,
        frame: PhysAddr,
        flags: Flags,
    ) -> Result<(), MapToError<Size4KiB>> {
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
        // SAFETY: the frame is the caller's fresh one and the page lies in
        // the user half, which this space owns.
        let mapped = unsafe {
            self.mapper().map_to(
                page,
                PhysFrame::containing_address(frame),
                flags,
                &mut PageTableFrames,
            )
        };
        mapped.map(|flush| flush.ignore())
    }

    fn map_one(&mut self, virt: u64, flags: Flags) -> Result<(), Errno> {
        let frame = frames::alloc_zeroed(0).ok_or(Errno::ENOMEM)?;
        match self.map_fresh(virt, frame, flags) {
            Ok(()) => Ok(()),
            Err(error) => {
                frames::free(frame, 0);
                Err(match error {
                    MapToError::FrameAllocationFailed => Errno::ENOMEM,
                    _ => Errno::EEXIST,
                })
            }
        }
    }

    /// Maps `pages` physically contiguous frames starting at `frames`,
    /// which the caller owns and keeps alive beyond this space, at `start`.
    pub fn map_borrowed(
        &mut self,
        start: u64,
        frames: PhysAddr,
        pages: u64,
        protection: Protection,
    ) -> Result<(), Errno> {
        let len = pages.checked_mul(PAGE_SIZE).ok_or(Errno::EINVAL)?;
        let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
        if !start.is_multiple_of(PAGE_SIZE) || pages == 0 || start < USER_MIN || end > USER_END {
            return Err(Errno::EINVAL);
        }
        let flags = page_flags(protection.writable, protection.executable);
        self.kernel_region(
            start,
            end,
            protection,
            RegionFlags::empty(),
            Backing::Borrowed,
        )?;
        for page in 0..pages {
            let virt =
                Page::<Size4KiB>::containing_address(VirtAddr::new(start + page * PAGE_SIZE));
            let frame = PhysFrame::containing_address(frames + page * PAGE_SIZE);
            // SAFETY: the frames are the caller's and outlive the mapping
            // (recorded as borrowed, so the space never frees them).
            let mapped = unsafe {
                self.mapper()
                    .map_to(virt, frame, flags, &mut PageTableFrames)
            };
            match mapped {
                Ok(flush) => flush.ignore(),
                Err(error) => {
                    for done in 0..page {
                        let virt = Page::<Size4KiB>::containing_address(VirtAddr::new(
                            start + done * PAGE_SIZE,
                        ));
                        if let Ok((_, flush)) = self.mapper().unmap(virt) {
                            flush.ignore();
                        }
                    }
                    self.regions.remove(PageRange::new(start, end)?);
                    return Err(match error {
                        MapToError::FrameAllocationFailed => Errno::ENOMEM,
                        _ => Errno::EEXIST,
                    });
                }
            }
        }
        Ok(())
    }

    fn is_borrowed(&self, virt: u64) -> bool {
        self.regions
            .find(virt)
            .is_some_and(|region| *region.object() == Backing::Borrowed)
    }

    /// Unmaps and frees the pages of `[start, start + len)` that are
    /// mapped.  Only for a space no CPU has loaded: a live one goes through
    /// [`Space::unhook`] and a shootdown.
    pub fn unmap(&mut self, start: u64, len: u64) {
        let (frames_to_free, _) = self.unhook(start, len);
        for frame in frames_to_free {
            frames::free(frame, 0);
        }
    }

    /// Removes the mappings of `[start, start + len)` without freeing
    /// anything: returns the frames the space owned there (free them after
    /// the shootdown) and the invalidations to make.
    pub fn unhook(&mut self, start: u64, len: u64) -> (Vec<PhysAddr>, Gather) {
        let mut owned = Vec::new();
        let mut gather = Gather::default();
        for page_start in (start..start.saturating_add(len)).step_by(PAGE_SIZE as usize) {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(page_start));
            let borrowed = self.is_borrowed(page_start);
            if let Ok((frame, flush)) = self.mapper().unmap(page) {
                flush.ignore();
                gather.page(page_start);
                if !borrowed {
                    owned.push(frame.start_address());
                }
            }
        }
        (owned, gather)
    }

    /// Copies `bytes` into the space at `virt` (through the direct map; the
    /// pages must be mapped).
    pub fn write(&self, virt: u64, bytes: &[u8]) -> Result<(), Errno> {
        let mut done = 0;
        while done < bytes.len() {
            let at = virt + done as u64;
            let (phys, _) = self.translate(at).ok_or(Errno::EFAULT)?;
            let chunk = (PAGE_SIZE - at % PAGE_SIZE).min((bytes.len() - done) as u64) as usize;
            // SAFETY: `phys` is a frame of this space (translated above),
            // mapped in the direct map; the chunk stays within its page.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    bytes[done..].as_ptr(),
                    phys_to_virt(phys.as_u64()).as_mut_ptr::<u8>(),
                    chunk,
                );
            }
            done += chunk;
        }
        Ok(())
    }

    /// Maps and fills the segments of `plan` from `image`: every segment
    /// gets fresh frames (writable ones must; read-only ones could share
    /// the initfs's pages once the initfs keeps its files page-aligned).
    pub fn load(&mut self, image: &[u8], plan: &LoadPlan) -> Result<(), Errno> {
        for segment in &plan.segments {
            let (start, end) = segment.pages();
            let protection = Protection {
                writable: segment.writable,
                executable: segment.executable,
            };
            self.map_zeroed(start, end - start, protection)?;
            let offset = segment.file_offset as usize;
            self.write(
                segment.vaddr,
                &image[offset..offset + segment.file_bytes as usize],
            )?;
        }
        Ok(())
    }

    /// The frame and flags behind `virt` in this space.
    pub fn translate(&self, virt: u64) -> Option<(PhysAddr, Flags)> {
        super::paging::translate_in(self.pml4, virt)
    }

    /// Frames mapped in the user half.
    pub fn resident_pages(&self) -> usize {
        let mut count = 0;
        walk_user_half(self.pml4, &mut |_, level, _| {
            count += usize::from(level == 0)
        });
        count
    }

    /// Page-table frames under the user half (the PML4 included).
    pub fn table_pages(&self) -> usize {
        let mut count = 1;
        walk_user_half(self.pml4, &mut |_, level, _| {
            count += usize::from(level > 0)
        });
        count
    }

    /// Makes this space the current one on this CPU.
    pub fn activate(&self) {
        super::shootdown::note_loaded(self.pml4.as_u64());
        // SAFETY: the upper half is the kernel's, so the running code, its
        // stack and all kernel data stay mapped across the switch.
        unsafe { Cr3::write(PhysFrame::containing_address(self.pml4), Cr3Flags::empty()) };
    }
}

/// The page-table flags of a present user page.
fn page_flags(writable: bool, executable: bool) -> Flags {
    let mut flags = Flags::PRESENT | Flags::USER_ACCESSIBLE;
    if writable {
        flags |= Flags::WRITABLE;
    }
    if !executable {
        flags |= nx_flag();
    }
    flags
}

/// `NO_EXECUTE` where the CPU has NX (the bit is reserved otherwise).
fn nx_flag() -> Flags {
    if crate::arch::cpu::features().nx {
        Flags::NO_EXECUTE
    } else {
        Flags::empty()
    }
}

/// Calls `visit(frame, level, virt)` for every frame under the user half:
/// leaf frames at level 0 with the address they map, page tables at their
/// level (1 = PT .. 3 = PDPT), children before their table.
fn walk_user_half(pml4: PhysAddr, visit: &mut impl FnMut(PhysAddr, u8, u64)) {
    fn walk(
        table: PhysAddr,
        level: u8,
        base: u64,
        entries: core::ops::Range<usize>,
        visit: &mut impl FnMut(PhysAddr, u8, u64),
    ) {
        // SAFETY: page tables live in RAM, reachable through the direct map.
        let table_ref = unsafe { &*phys_to_virt(table.as_u64()).as_ptr::<PageTable>() };
        let span = 1u64 << (12 + 9 * (u32::from(level) - 1));
        for (index, entry) in table_ref
            .iter()
            .enumerate()
            .take(entries.end)
            .skip(entries.start)
        {
            if !entry.flags().contains(Flags::PRESENT) {
                continue;
            }
            let frame = entry.addr();
            let virt = base + index as u64 * span;
            if level == 1 {
                visit(frame, 0, virt);
            } else {
                walk(frame, level - 1, virt, 0..512, visit);
                visit(frame, level - 1, virt);
            }
        }
    }
    walk(pml4, 4, 0, 0..256, visit);
}

impl Drop for Space {
    fn drop(&mut self) {
        let (current, _) = Cr3::read();
        assert_ne!(
            current.start_address(),
            self.pml4,
            "dropping the active address space"
        );
        walk_user_half(self.pml4, &mut |frame, level, virt| {
            if level > 0 || !self.is_borrowed(virt) {
                frames::free(frame, 0);
            }
        });
        frames::free(self.pml4, 0);
    }
}

#[cfg(not(test))]
mod ktests {
    use super::*;
    use crate::proc::elf::Segment;
    use crate::{ensure, ensure_eq};
    use alloc::vec;

    const RW: Protection = Protection {
        writable: true,
        executable: false,
    };
    const RX: Protection = Protection {
        writable: false,
        executable: true,
    };

    crate::ktest!(
        fn a_space_shares_the_kernel_half_and_starts_empty() {
            let space = Space::new().map_err(|e| alloc::format!("{e}"))?;
            ensure_eq!(space.resident_pages(), 0);
            let kernel = super::super::paging::kernel_pml4();
            for index in 256..512u64 {
                let read = |pml4: PhysAddr| {
                    // SAFETY: a PML4 frame, read through the direct map.
                    unsafe {
                        phys_to_virt(pml4.as_u64() + 8 * index)
                            .as_ptr::<u64>()
                            .read()
                    }
                };
                ensure_eq!(read(space.pml4()), read(kernel));
            }
            space.activate();
            let still_mapped = crate::mm::paging::is_mapped(
                a_space_shares_the_kernel_half_and_starts_empty as *const () as u64,
            );
            super::super::paging::activate_kernel();
            ensure!(still_mapped, "kernel text vanished in a user space");
            Ok(())
        }
    );

    crate::ktest!(
        fn mappings_have_user_permissions_and_are_freed() {
            let baseline = frames::free_frames();
            {
                let mut space = Space::new().map_err(|e| alloc::format!("{e}"))?;
                space
                    .map_zeroed(0x40_0000, 3 * PAGE_SIZE, RW)
                    .map_err(|e| alloc::format!("{e}"))?;
                space
                    .map_zeroed(0x80_0000, PAGE_SIZE, RX)
                    .map_err(|e| alloc::format!("{e}"))?;
                ensure_eq!(space.resident_pages(), 4);
                let (_, flags) = space.translate(0x40_1000).ok_or("mapped page missing")?;
                ensure!(
                    flags.contains(Flags::USER_ACCESSIBLE | Flags::WRITABLE),
                    "{flags:?}"
                );
                let nx = crate::arch::cpu::features().nx;
                ensure_eq!(flags.contains(Flags::NO_EXECUTE), nx);
                let (_, flags) = space.translate(0x80_0000).ok_or("text page missing")?;
                ensure!(
                    !flags.contains(Flags::WRITABLE) && !flags.contains(Flags::NO_EXECUTE),
                    "{flags:?}"
                );
                ensure!(
                    space.translate(0x40_3000).is_none(),
                    "a page past the mapping exists"
                );
                // Over an existing mapping: refused, nothing leaked or changed.
                ensure_eq!(
                    space.map_zeroed(0x3f_f000, 2 * PAGE_SIZE, RW),
                    Err(Errno::EEXIST)
                );
                ensure!(
                    space.translate(0x3f_f000).is_none(),
                    "a refused mapping left a page behind"
                );
                ensure_eq!(space.resident_pages(), 4);
                space
                    .write(0x40_0ffe, b"spans")
                    .map_err(|e| alloc::format!("{e}"))?;
                let (phys, _) = space.translate(0x40_1000).ok_or("page missing")?;
                // SAFETY: a frame of the space, read through the direct map.
                let tail = unsafe { phys_to_virt(phys.as_u64()).as_ptr::<[u8; 3]>().read() };
                ensure_eq!(&tail, b"ans");
                ensure_eq!(space.write(0x90_0000, b"x"), Err(Errno::EFAULT));
                space.unmap(0x40_0000, PAGE_SIZE);
                ensure_eq!(space.resident_pages(), 3);
            }
            ensure_eq!(frames::free_frames(), baseline);
            Ok(())
        }
    );

    crate::ktest!(
        fn bad_ranges_are_refused() {
            let mut space = Space::new().map_err(|e| alloc::format!("{e}"))?;
            for (start, len) in [
                (0x40_0001, PAGE_SIZE),
                (0x40_0000, 100),
                (0x40_0000, 0),
                (0, PAGE_SIZE),
                (USER_END - PAGE_SIZE, 2 * PAGE_SIZE),
                (0xffff_8000_0000_0000, PAGE_SIZE),
                (u64::MAX - 0xfff, PAGE_SIZE),
            ] {
                ensure_eq!(space.map_zeroed(start, len, RW), Err(Errno::EINVAL));
            }
            ensure_eq!(space.resident_pages(), 0);
            Ok(())
        }
    );

    crate::ktest!(
        fn a_plan_loads_with_its_bss_zeroed() {
            let mut image = vec![0u8; 0x3000];
            image[0x1000..0x1004].copy_from_slice(b"text");
            image[0x2000..0x2004].copy_from_slice(b"data");
            image[0x2004..0x3000].fill(0xee); // past filesz: must not be copied
            let plan = LoadPlan {
                entry: 0x40_0000,
                segments: vec![
                    Segment {
                        vaddr: 0x40_0000,
                        mem_bytes: 4,
                        file_offset: 0x1000,
                        file_bytes: 4,
                        writable: false,
                        executable: true,
                    },
                    Segment {
                        vaddr: 0x40_1000,
                        mem_bytes: 0x1800,
                        file_offset: 0x2000,
                        file_bytes: 4,
                        writable: true,
                        executable: false,
                    },
                ],
            };
            let mut space = Space::new().map_err(|e| alloc::format!("{e}"))?;
            space
                .load(&image, &plan)
                .map_err(|e| alloc::format!("{e}"))?;
            ensure_eq!(space.resident_pages(), 3);
            let read = |virt: u64| -> Result<[u8; 4], alloc::string::String> {
                let (phys, _) = space.translate(virt).ok_or("unmapped")?;
                // SAFETY: a frame of the space, read through the direct map.
                Ok(unsafe { phys_to_virt(phys.as_u64()).as_ptr::<[u8; 4]>().read() })
            };
            ensure_eq!(&read(0x40_0000)?, b"text");
            ensure_eq!(&read(0x40_1000)?, b"data");
            ensure_eq!(read(0x40_1004)?, [0; 4]);
            ensure_eq!(read(0x40_2000)?, [0; 4]);
            Ok(())
        }
    );
}
