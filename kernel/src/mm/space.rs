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

/// Page protections for user mappings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protection {
    pub writable: bool,
    pub executable: bool,
}

pub struct Space {
    pml4: PhysAddr,
    /// Ranges mapped onto frames the space does not own (a ring's, which
    /// outlive the mapping): unmapped with the space, never freed by it.
    borrowed: alloc::vec::Vec<(u64, u64)>,
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
            borrowed: alloc::vec::Vec::new(),
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
        let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
        if !start.is_multiple_of(PAGE_SIZE)
            || !len.is_multiple_of(PAGE_SIZE)
            || len == 0
            || start < USER_MIN
            || end > USER_END
        {
            return Err(Errno::EINVAL);
        }
        let mut flags = Flags::PRESENT | Flags::USER_ACCESSIBLE;
        if protection.writable {
            flags |= Flags::WRITABLE;
        }
        if !protection.executable && crate::arch::cpu::features().nx {
            flags |= Flags::NO_EXECUTE;
        }
        for page_start in (start..end).step_by(PAGE_SIZE as usize) {
            if let Err(errno) = self.map_one(page_start, flags) {
                self.unmap(start, page_start - start);
                return Err(errno);
            }
        }
        Ok(())
    }

    fn map_one(&mut self, virt: u64, flags: Flags) -> Result<(), Errno> {
        let frame = frames::alloc_zeroed(0).ok_or(Errno::ENOMEM)?;
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
        // SAFETY: the frame is fresh and the page lies in the user half,
        // which this space owns; nothing else maps it.
        let mapped = unsafe {
            self.mapper().map_to(
                page,
                PhysFrame::containing_address(frame),
                flags,
                &mut PageTableFrames,
            )
        };
        match mapped {
            // Not yet loaded anywhere (or a fresh mapping): no flush needed.
            Ok(flush) => {
                flush.ignore();
                Ok(())
            }
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
        let mut flags = Flags::PRESENT | Flags::USER_ACCESSIBLE;
        if protection.writable {
            flags |= Flags::WRITABLE;
        }
        if !protection.executable && crate::arch::cpu::features().nx {
            flags |= Flags::NO_EXECUTE;
        }
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
                    return Err(match error {
                        MapToError::FrameAllocationFailed => Errno::ENOMEM,
                        _ => Errno::EEXIST,
                    });
                }
            }
        }
        self.borrowed.push((start, end));
        Ok(())
    }

    fn is_borrowed(&self, virt: u64) -> bool {
        self.borrowed
            .iter()
            .any(|&(start, end)| (start..end).contains(&virt))
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
