//! A user address space: a PML4 of its own whose upper half is the
//! kernel's, the user pages mapped in its lower half, and the region tree
//! that says what each range is.
//!
//! ```text
//! PML4[0..256)    user: owned by this Space (tables, and one reference to
//!                 every frame mapped there but a physical region's)
//! PML4[256..512)  kernel: the same entries as the kernel's PML4, so every
//!                 space sees the direct map, the kernel stacks and the image
//! ```
//!
//! What backs a region ([`Source`]):
//!
//! ```text
//!   Eager       frames the kernel mapped when it made the region (the ELF
//!               image, stacks); a fault on a hole there is fatal
//!   Physical    frames the space does not own (the ring's)
//!   Anonymous   MMAP memory: a zeroed frame on first touch
//!   Object      a memory object (`object`): an initfs file, or shared
//!               anonymous memory; shared regions map its pages, private
//!               ones map them read-only and copy on the first write
//! ```
//!
//! Copy-on-write: [`Space::clone_cow`] gives a child every private page
//! read-only in both spaces, each frame one more owner
//! (`frame::global::share`), and marks the page in both regions' CoW sets
//! (`page_set`, allocated when a region is first cloned).  The first write
//! to a marked page copies it, or takes it over in place when the writer is
//! its last owner ([`Space::resolve_fault`]).  A page pinned by an op (a
//! READ in flight into it) is copied for the child at once, as Linux does:
//! the READ's data must land in the parent's page only.

use super::frame::global::{self as frames, UserTableFrames};
use super::frame::list::FrameList;
use super::object::{self, MemObject, PageError};
use super::page_set::PageSet;
use super::region::{self, PageRange, Region, RegionFlags, RegionTree};
use super::shootdown::Gather;
use super::{DIRECT_MAP_BASE, PAGE_SIZE, phys_to_virt};
use crate::proc::elf::{LoadPlan, USER_END, USER_MIN};
use abi::Errno;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::ControlFlow;
use spin::Mutex;
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

/// What backs a region's pages (see the module docs).
#[derive(Clone)]
pub enum Source {
    Eager,
    Physical,
    Anonymous,
    Object(Arc<MemObject>),
}

/// A region's backing: its source, and its copy-on-write marks.
#[derive(Clone)]
pub struct Backing {
    pub source: Source,
    /// Pages, by index in the object ([`Region::offset_of`] / 4 KiB),
    /// mapped read-only because another space or the object shares their
    /// frame: the first write copies.  `None` until the region first has
    /// such a page.  A region split in two shares the set: the halves'
    /// indices never overlap.
    cow: Option<Arc<Mutex<PageSet>>>,
    /// A nonlinear shared file mapping's pages (`REMAP_PAGES`): for a page,
    /// by the same index as `cow`, the file page behind it and its own
    /// protection.  `None` (and no entry) is the linear default: the page
    /// at the region's offset, with the region's protection.
    remap: Option<Arc<Mutex<BTreeMap<u64, PageRemap>>>>,
}

/// One page of a nonlinear mapping: which file page, with what protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRemap {
    pub file_page: u64,
    pub protection: region::Protection,
}

impl Backing {
    fn new(source: Source) -> Self {
        Self {
            source,
            cow: None,
            remap: None,
        }
    }

    /// The object page behind page `index` of the region, and its
    /// protection (`region`'s unless remapped).
    fn page_of(&self, index: u64, region: region::Protection) -> (u64, region::Protection) {
        match self
            .remap
            .as_ref()
            .and_then(|map| map.lock().get(&index).copied())
        {
            Some(remap) => (remap.file_page, remap.protection),
            None => (index, region),
        }
    }

    /// A copy for another space: the same source, the remapped pages
    /// copied (not shared: a later `REMAP_PAGES` in one space must not
    /// move the other's pages), no copy-on-write marks yet.
    fn copy_for_clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            cow: None,
            remap: self
                .remap
                .as_ref()
                .map(|map| Arc::new(Mutex::new(map.lock().clone()))),
        }
    }

    fn is_physical(&self) -> bool {
        matches!(self.source, Source::Physical)
    }

    fn is_cow(&self, index: u64) -> bool {
        self.cow
            .as_ref()
            .is_some_and(|set| set.lock().contains(index))
    }

    fn cow_set(&mut self) -> Arc<Mutex<PageSet>> {
        self.cow
            .get_or_insert_with(|| Arc::new(Mutex::new(PageSet::new())))
            .clone()
    }
}

/// Why a fault was not resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// No region, a kernel-only one, or one whose protection forbids the
    /// access (or a file page past the end): the process is killed, and a
    /// kernel access on its behalf gets `EFAULT`.
    Violation,
    /// A frame is needed: allocate one and try again.
    NeedFrame,
    /// A page table could not be had.
    OutOfMemory,
}

/// What resolving a fault changed that other CPUs may have cached.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Entries that now map another frame: shoot them down before the
    /// faulting access goes on, and before `stale` is released.
    pub gather: Gather,
    /// The frame a copy-on-write copy replaced: one owner to drop after the
    /// shootdown.
    pub stale: Option<PhysAddr>,
}

/// The access a page fault's error code describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub write: bool,
    pub fetch: bool,
}

impl Access {
    /// Decodes a #PF error code.
    pub fn from_error_code(code: u64) -> Self {
        Self {
            write: code & 2 != 0,
            fetch: code & 16 != 0,
        }
    }

    fn allowed_by(self, protection: region::Protection) -> bool {
        if self.fetch {
            protection.executable
        } else if self.write {
            protection.writable
        } else {
            protection.readable
        }
    }
}

/// What a space holds ([`Space::usage`]), in pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Frames mapped in the user half.
    pub resident_pages: usize,
    /// Page-table frames under the user half, the PML4 included.
    pub table_pages: usize,
    /// Private pages only this space maps (written or zeroed for it,
    /// shared with nobody).
    pub private_dirty_pages: usize,
}

pub struct Space {
    pml4: PhysAddr,
    /// What each range is: the tree `MMAP`, `MUNMAP`, faults and the
    /// teardown consult.
    regions: RegionTree<Backing>,
    /// Where mappings without a hint go, top-down: the end of
    /// [`MMAP_AREA`], moved down by address-space randomization.
    mmap_top: u64,
    /// How far the program was moved from its link-time addresses
    /// (`elf::LoadPlan::load_bias`), for naming addresses with the kept
    /// image's symbols.
    load_bias: u64,
}

impl Space {
    /// An empty user half over the kernel's upper half.
    pub fn new() -> Result<Self, Errno> {
        let pml4 = frames::alloc_user_zeroed(0).ok_or(Errno::ENOMEM)?;
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
            mmap_top: MMAP_AREA.end(),
            load_bias: 0,
        })
    }

    /// Moves where mappings without a hint go `shift` bytes down from the
    /// top of [`MMAP_AREA`] (`mm::aslr`).
    pub fn randomize_mmap(&mut self, shift: u64) {
        let floor = MMAP_AREA.start() + (MMAP_AREA.len_bytes() / 2);
        self.mmap_top = MMAP_AREA.end().saturating_sub(shift).max(floor);
    }

    /// Where `len` bytes go without `MAP_FIXED`: at `hint` if it is free,
    /// else top-down from the randomized top, else anywhere in the area.
    fn place(&self, len: u64, hint: u64) -> Result<u64, Errno> {
        let below_top = PageRange::new(MMAP_AREA.start(), self.mmap_top)?;
        self.regions
            .find_free(len, hint, below_top)
            .or_else(|_| self.regions.find_free(len, hint, MMAP_AREA))
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
    /// in the user half) of a space no CPU has loaded (a program being
    /// loaded), and returns nothing mapped on failure.
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
            self.unmap(start, len);
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
        self.kernel_region(start, end, protection, flags, Source::Eager)
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
    /// a region already recorded.  On failure the pages mapped so far stay
    /// for the caller to take back: in a live space another thread may
    /// already have touched them, so they go with a shootdown
    /// ([`Space::unhook`]), and only a space no CPU has loaded may free
    /// them at once ([`Space::unmap`]).
    pub fn map_pages(&mut self, start: u64, len: u64, protection: Protection) -> Result<(), Errno> {
        let end = Self::check_range(start, len)?;
        let flags = page_flags(protection.writable, protection.executable);
        for page_start in (start..end).step_by(PAGE_SIZE as usize) {
            self.map_one(page_start, flags)?;
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
        source: Source,
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
            Backing::new(source),
            0,
        )?;
        self.regions.insert(region).map_err(|_| Errno::EEXIST)
    }

    /// Keeps the program's ELF file (`image`, initfs bytes) in a
    /// kernel-only region: user code cannot touch it (any access is a
    /// violation), `VM_QUERY` shows it, and crash reports read its symbols
    /// (its link-time addresses plus `load_bias`).  Returns where it lies.
    pub fn keep_image(&mut self, image: &'static [u8], load_bias: u64) -> Result<u64, Errno> {
        self.load_bias = load_bias;
        let len = (image.len() as u64).max(1).next_multiple_of(PAGE_SIZE);
        let start = self.place(len, 0)?;
        let range = PageRange::new(start, start + len)?;
        let protection = region::Protection {
            readable: true,
            ..region::Protection::default()
        };
        let source = Source::Object(object::for_file(image));
        let region = Region::new(
            range,
            protection,
            RegionFlags::empty(),
            Backing::new(source),
            0,
        )?;
        self.regions.insert(region)?;
        Ok(start)
    }

    /// How far the program kept by [`Space::keep_image`] was moved from
    /// its link-time addresses.
    pub fn load_bias(&self) -> u64 {
        self.load_bias
    }

    /// The ELF file kept by [`Space::keep_image`].
    pub fn image(&self) -> Option<&'static [u8]> {
        self.regions.iter().find_map(|region| {
            let kept = !region.flags().contains(RegionFlags::USER_ACCESSIBLE);
            match &region.object().source {
                Source::Object(object) if kept => object.file_bytes(),
                _ => None,
            }
        })
    }

    /// `MMAP`: records a region of `source` from byte `offset` on (pages
    /// come on first touch) at `fixed` exactly, or at a free place (`hint`
    /// first).  Returns the address, and what a fixed mapping displaced:
    /// frames to release after the shootdown of the invalidations.
    pub fn map_user(
        &mut self,
        placement: Placement,
        len: u64,
        protection: region::Protection,
        flags: RegionFlags,
        source: Source,
        offset: u64,
    ) -> Result<(u64, FrameList, Gather), Errno> {
        let len = region::mmap_len(len)?;
        let flags = flags | RegionFlags::MMAPPED | RegionFlags::USER_ACCESSIBLE;
        let backing = Backing::new(source);
        match placement {
            Placement::Fixed(addr) => {
                let range = PageRange::for_mmap_fixed(addr, len)?;
                let region = Region::new(range, protection, flags, backing, offset)?;
                let displaced = self.regions.replace(region)?;
                let (frames, gather) = self.unhook_regions(displaced);
                Ok((addr, frames, gather))
            }
            Placement::Anywhere { hint } => {
                let start = self.place(len, hint)?;
                let range = PageRange::new(start, start + len)?;
                let region = Region::new(range, protection, flags, backing, offset)?;
                self.regions.insert(region)?;
                Ok((start, FrameList::new(), Gather::default()))
            }
        }
    }

    /// `MUNMAP`: removes what `MMAP` mapped in `range` (refused, changing
    /// nothing, over anything else).  Returns the frames to release after
    /// the shootdown of the invalidations.
    pub fn unmap_user(&mut self, addr: u64, len: u64) -> Result<(FrameList, Gather), Errno> {
        let range = PageRange::for_munmap(addr, len)?;
        let removed = self.regions.unmap(range)?;
        Ok(self.unhook_regions(removed))
    }

    /// Unmaps the pages of `regions`, just taken out of the tree.
    fn unhook_regions(&mut self, regions: Vec<Region<Backing>>) -> (FrameList, Gather) {
        let (mut frames, mut gather) = (FrameList::new(), Gather::default());
        for old in regions {
            let owned = !old.object().is_physical();
            self.unhook_pages(old.start(), old.end(), owned, &mut frames, &mut gather);
        }
        (frames, gather)
    }

    /// `MPROTECT`: gives `[addr, addr + len)` (MMAP's regions only, no
    /// holes) `protection`, and rewrites the entries of the pages mapped
    /// there.  Returns the invalidations for the shootdown.  `PROT_NONE`
    /// keeps a page present but takes its user bit away: any user access
    /// faults (and is a violation), the kernel's own accesses go through
    /// the direct map, and the frame stays the space's, so a later
    /// `MPROTECT` gives the data back.  A page still shared copy-on-write
    /// stays read-only whatever the protection: its first write copies it.
    /// A shared mapping of a file cannot become writable (`EACCES`): initfs
    /// files are read-only.
    pub fn protect_user(
        &mut self,
        addr: u64,
        len: u64,
        protection: region::Protection,
    ) -> Result<Gather, Errno> {
        let range = PageRange::for_mprotect(addr, len)?;
        if protection.writable && self.regions.overlapping(range).any(is_shared_file) {
            return Err(Errno::EACCES);
        }
        let mut gather = Gather::default();
        let flags = leaf_flags(protection);
        let mut spans = self.regions.protect(range, protection)?;
        // A nonlinear mapping's pages take the new protection too where
        // the region's own did not change.
        spans.extend(
            self.regions
                .overlapping(range)
                .filter(|region| region.object().remap.is_some())
                .map(|region| {
                    (
                        region.start().max(range.start()),
                        region.end().min(range.end()),
                    )
                }),
        );
        // A nonlinear region whose own protection changed is in both
        // lists, with the same span (the range split it): rewrite and
        // gather its pages once.
        spans.sort_unstable();
        spans.dedup();
        for (start, end) in spans {
            let region = self.regions.find(start).expect("just protected");
            let (region_start, offset) = (region.start(), region.offset());
            let cow = region.object().cow.clone();
            let remap = region.object().remap.clone();
            for page_start in (start..end).step_by(PAGE_SIZE as usize) {
                let index = (offset + page_start - region_start) / PAGE_SIZE;
                // A remapped page keeps its file page and takes the new
                // protection, as every page of the range does.
                if let Some(map) = &remap
                    && let Some(entry) = map.lock().get_mut(&index)
                {
                    entry.protection = protection;
                }
                let mut page_flags = flags;
                if cow.as_ref().is_some_and(|set| set.lock().contains(index)) {
                    page_flags.remove(Flags::WRITABLE);
                }
                let page = Page::<Size4KiB>::containing_address(VirtAddr::new(page_start));
                // SAFETY: only the flags of a page this space mapped change;
                // the frame stays where it is.
                if let Ok(flush) = unsafe { self.mapper().update_flags(page, page_flags) } {
                    flush.ignore();
                    gather.page(page_start);
                }
            }
        }
        Ok(gather)
    }

    /// `REMAP_PAGES`: the pages of `[addr, addr + len)`, inside one shared
    /// mapping of a file, show the file's pages from `file_offset` on,
    /// with `protection`, without splitting the region.  Returns the old
    /// entries' frames to release and their invalidations, one batch for
    /// the shootdown; the new pages come on first touch.  `EINVAL` for a
    /// range that is not page-aligned, not within one such region, or runs
    /// past the file; `EACCES` for a writable protection (the initfs is
    /// read-only).
    pub fn remap_pages(
        &mut self,
        addr: u64,
        len: u64,
        file_offset: u64,
        protection: region::Protection,
    ) -> Result<(FrameList, Gather), Errno> {
        let range = PageRange::for_munmap(addr, len)?;
        if protection.writable {
            return Err(Errno::EACCES);
        }
        if !file_offset.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let region = self.regions.find(addr).ok_or(Errno::EINVAL)?;
        let Source::Object(object) = &region.object().source else {
            return Err(Errno::EINVAL);
        };
        let pages = len / PAGE_SIZE;
        let first_file_page = file_offset / PAGE_SIZE;
        let fits = range.end() <= region.end()
            && region
                .flags()
                .contains(RegionFlags::MMAPPED | RegionFlags::SHARED)
            && object.is_file()
            && first_file_page
                .checked_add(pages)
                .is_some_and(|end| end <= object.page_count());
        if !fits {
            return Err(Errno::EINVAL);
        }
        let first_index = region.offset_of(addr) / PAGE_SIZE;
        let map = self
            .backing_mut(addr)
            .remap
            .get_or_insert_with(|| Arc::new(Mutex::new(BTreeMap::new())))
            .clone();
        {
            let mut map = map.lock();
            for page in 0..pages {
                let remap = PageRemap {
                    file_page: first_file_page + page,
                    protection,
                };
                map.insert(first_index + page, remap);
            }
        }
        let (mut frames, mut gather) = (FrameList::new(), Gather::default());
        self.unhook_pages(range.start(), range.end(), true, &mut frames, &mut gather);
        Ok((frames, gather))
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

    /// The first `limit` regions as `VM_QUERY` records, in address order,
    /// with their page counts (one walk of the page tables).  `ENOMEM` when
    /// the kernel heap cannot hold them (a process may have 65,530 regions:
    /// the list must not be an allocation that panics).
    pub fn query(&self, limit: usize) -> Result<Vec<abi::file::VmRegion>, Errno> {
        let mut records = Vec::new();
        records
            .try_reserve_exact(limit.min(self.regions.len()))
            .map_err(|_| Errno::ENOMEM)?;
        records.extend(self.regions.iter().take(limit).map(|region| {
            let protection = region.protection();
            let flags = region.flags();
            let bit = |flag: RegionFlags, value: u32| if flags.contains(flag) { value } else { 0 };
            let backing = region.object();
            let kind = match &backing.source {
                Source::Object(object) if object.is_file() => abi::file::VM_FILE,
                Source::Physical => abi::file::VM_PHYSICAL,
                _ => 0,
            };
            let first = region.offset() / PAGE_SIZE;
            let nonlinear = backing
                .remap
                .as_ref()
                .is_some_and(|map| !map.lock().is_empty());
            let cow_pages = backing.cow.as_ref().map_or(0, |set| {
                set.lock()
                    .count_in(first..first + region.len_bytes() / PAGE_SIZE)
            });
            abi::file::VmRegion {
                start: region.start(),
                end: region.end(),
                prot: abi::ProtFlags::from(protection).bits(),
                flags: bit(RegionFlags::USER_ACCESSIBLE, abi::file::VM_USER_ACCESSIBLE)
                    | bit(RegionFlags::STACK, abi::file::VM_STACK)
                    | bit(RegionFlags::MMAPPED, abi::file::VM_MMAPPED)
                    | bit(RegionFlags::SHARED, abi::file::VM_SHARED)
                    | if cow_pages > 0 { abi::file::VM_COW } else { 0 }
                    | if nonlinear {
                        abi::file::VM_NONLINEAR
                    } else {
                        0
                    }
                    | kind,
                offset: region.offset(),
                cow_pages,
                ..abi::file::VmRegion::default()
            }
        }));
        self.walk_mapped(|mapped| {
            let Mapped::Page {
                frame,
                region: Some((index, region)),
            } = mapped
            else {
                return;
            };
            let Some(record) = records.get_mut(index) else {
                return;
            };
            record.resident_pages += 1;
            if frames::pin_count(frame) > 0 {
                record.pinned_pages += 1;
            }
            if is_private_dirty(region, frame) {
                record.private_dirty_pages += 1;
            }
        });
        Ok(records)
    }

    /// Resolves a fault at `addr` for `access`, the user's own or the
    /// kernel's on its behalf (an op's buffer): maps a zeroed page, an
    /// object's page, or a copy of a copy-on-write page.  A frame it needs
    /// comes from `spare` (not zeroed; taken only when used): with none,
    /// `NeedFrame` says to allocate one and call again.  An access the
    /// entry already allows (another CPU resolved it first) is resolved
    /// with nothing to do.
    pub fn resolve_fault(
        &mut self,
        addr: u64,
        access: Access,
        spare: &mut Option<PhysAddr>,
    ) -> Result<Resolved, FaultError> {
        let page = addr & !(PAGE_SIZE - 1);
        let region = self.regions.find(page).ok_or(FaultError::Violation)?;
        let index = region.offset_of(page) / PAGE_SIZE;
        let backing = region.object();
        // A nonlinear mapping's page has its own file page and protection.
        let (object_index, protection) = backing.page_of(index, region.protection());
        if !region.flags().contains(RegionFlags::USER_ACCESSIBLE) || !access.allowed_by(protection)
        {
            return Err(FaultError::Violation);
        }
        let shared = region.flags().contains(RegionFlags::SHARED);
        let flags = leaf_flags(protection);
        let Some((frame, entry)) = self.translate(page) else {
            return match &backing.source {
                Source::Eager | Source::Physical => Err(FaultError::Violation),
                Source::Anonymous => {
                    let frame = spare.take().ok_or(FaultError::NeedFrame)?;
                    // SAFETY: the caller's spare frame, mapped nowhere yet.
                    unsafe { frames::zero(frame, 0) };
                    if let Some(set) = &backing.cow {
                        set.lock().remove(index);
                    }
                    self.map_new(page, frame, flags)?;
                    Ok(Resolved::default())
                }
                Source::Object(object) => {
                    let frame = object
                        .page(object_index, spare)
                        .map_err(|error| match error {
                            PageError::NeedFrame => FaultError::NeedFrame,
                            PageError::PastEnd => FaultError::Violation,
                        })?;
                    if shared {
                        self.map_new(page, frame, flags)?;
                    } else {
                        // The object's page, read-only: a write copies it.
                        self.map_new(page, frame, flags - Flags::WRITABLE)?;
                        let set = self.backing_mut(page).cow_set();
                        set.lock().insert(index);
                    }
                    Ok(Resolved::default())
                }
            };
        };
        if access.write && !entry.contains(Flags::WRITABLE) {
            // The region allows the write: a copy-on-write page.
            if !backing.is_cow(index) {
                return Err(FaultError::Violation);
            }
            let private_now = frames::owners(frame) == 1;
            if !private_now && spare.is_none() {
                return Err(FaultError::NeedFrame);
            }
            if let Some(set) = &backing.cow {
                set.lock().remove(index);
            }
            if private_now {
                // The last owner writes in place.  Other CPUs' read-only
                // entries fault and find it writable: no shootdown.
                self.set_flags(page, flags);
                return Ok(Resolved::default());
            }
            let copy = spare.take().expect("checked above");
            copy_frame(frame, copy);
            self.replace_frame(page, copy, flags);
            let mut gather = Gather::default();
            gather.page(page);
            return Ok(Resolved {
                gather,
                stale: Some(frame),
            });
        }
        let fetch_ok = !access.fetch || !entry.contains(Flags::NO_EXECUTE);
        if entry.contains(Flags::USER_ACCESSIBLE) && fetch_ok {
            Ok(Resolved::default())
        } else {
            Err(FaultError::Violation)
        }
    }

    /// The backing of the region holding `addr`, which exists.
    fn backing_mut(&mut self, addr: u64) -> &mut Backing {
        self.regions
            .find_mut(addr)
            .expect("a region the caller found")
            .object_mut()
    }

    /// Faults in the page at `page` for a kernel access on the user's
    /// behalf (an op's buffer), as the user's own access would: a zeroed
    /// page, an object's page, a copy of a copy-on-write page.  Returns
    /// its translation; `EFAULT` where the user's own access would fault
    /// fatally, `ENOMEM` without a frame.  A copy replacing a frame other
    /// CPUs may have cached starts a shootdown; the replaced frame is
    /// released once it completes.
    pub fn fault_for_kernel(&mut self, page: u64, write: bool) -> Result<(PhysAddr, Flags), Errno> {
        let access = Access {
            write,
            fetch: false,
        };
        let mut spare = None;
        let resolved = loop {
            match self.resolve_fault(page, access, &mut spare) {
                Ok(resolved) => break Ok(resolved),
                Err(FaultError::NeedFrame) => match frames::alloc_user() {
                    Some(frame) => spare = Some(frame),
                    None => break Err(Errno::ENOMEM),
                },
                Err(FaultError::Violation) => break Err(Errno::EFAULT),
                Err(FaultError::OutOfMemory) => break Err(Errno::ENOMEM),
            }
        };
        if let Some(frame) = spare {
            frames::free(frame, 0);
        }
        let resolved = resolved?;
        super::shootdown::settle(self.pml4.as_u64(), resolved.gather, resolved.stale);
        self.translate(page).ok_or(Errno::EFAULT)
    }

    /// Maps `frame` (one owner, the caller's, which the entry takes) at the
    /// page `virt`, which nothing maps.  A page that was not present was
    /// never cached in a TLB: no flush is needed.  On failure the frame's
    /// owner is dropped.
    fn map_new(&mut self, virt: u64, frame: PhysAddr, flags: Flags) -> Result<(), FaultError> {
        self.map_fresh(virt, frame, flags).map_err(|_| {
            frames::release(frame);
            FaultError::OutOfMemory
        })
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
        // SAFETY: the frame is the caller's and the page lies in the user
        // half, which this space owns.
        let mapped = unsafe {
            self.mapper().map_to_with_table_flags(
                page,
                PhysFrame::containing_address(frame),
                flags,
                Flags::PRESENT | Flags::WRITABLE | Flags::USER_ACCESSIBLE,
                &mut UserTableFrames,
            )
        };
        mapped.map(|flush| flush.ignore())
    }

    /// Gives the mapped page `virt` the entry flags `flags` (no flush: the
    /// caller knows whether one is needed).
    fn set_flags(&mut self, virt: u64, flags: Flags) {
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
        // SAFETY: only the flags of a page this space mapped change.
        if let Ok(flush) = unsafe { self.mapper().update_flags(page, flags) } {
            flush.ignore();
        }
    }

    /// Points the mapped page `virt` at `frame` (whose owner the entry
    /// takes) with `flags`; the caller shoots the old entry down.
    fn replace_frame(&mut self, virt: u64, frame: PhysAddr, flags: Flags) {
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
        if let Ok((_, flush)) = self.mapper().unmap(page) {
            flush.ignore();
        }
        self.map_fresh(virt, frame, flags)
            .expect("the page's table exists: it was mapped");
    }

    fn map_one(&mut self, virt: u64, flags: Flags) -> Result<(), Errno> {
        let frame = frames::alloc_user_zeroed(0).ok_or(Errno::ENOMEM)?;
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

    /// A copy-on-write image of this space for a child: every region but
    /// the physical ones (the ring: the child gets its own), private pages
    /// shared read-only and marked in both spaces, shared regions' pages
    /// shared as they are.  Returns the child (or why it could not be
    /// made) and, either way, the entries of this space made read-only,
    /// for the shootdown: a failure midway leaves pages marked, which is
    /// harmless (the last owner's write takes a page back in place).
    pub fn clone_cow(&mut self) -> (Result<Space, Errno>, Gather) {
        let mut gather = Gather::default();
        let mut child = match Space::new() {
            Ok(child) => child,
            Err(errno) => return (Err(errno), gather),
        };
        child.mmap_top = self.mmap_top;
        child.load_bias = self.load_bias;
        for region in self.regions.iter() {
            if region.object().is_physical() {
                continue;
            }
            let backing = region.object().copy_for_clone();
            let copy = Region::new(
                region.range(),
                region.protection(),
                region.flags(),
                backing,
                region.offset(),
            )
            .expect("a copy of a valid region");
            if let Err(errno) = child.regions.insert(copy) {
                return (Err(errno), gather);
            }
        }
        // A batch of pages at a time: a list of every page would be one
        // heap block as large as the space's page count makes it.
        let cloned = for_each_page(self.pml4, 0, USER_END, |(virt, frame, flags)| {
            self.clone_page(&mut child, virt, frame, flags, &mut gather)
        });
        (cloned.map(|()| child), gather)
    }

    /// [`Space::clone_cow`] of the page `virt`, mapped to `frame` with
    /// `flags`.
    fn clone_page(
        &mut self,
        child: &mut Space,
        virt: u64,
        frame: PhysAddr,
        flags: Flags,
        gather: &mut Gather,
    ) -> Result<(), Errno> {
        let region = self
            .regions
            .find(virt)
            .expect("every mapped page has a region");
        if region.object().is_physical() {
            return Ok(());
        }
        if region.flags().contains(RegionFlags::SHARED) {
            frames::share(frame);
            return child.map_new(virt, frame, flags).map_err(|_| Errno::ENOMEM);
        }
        let index = region.offset_of(virt) / PAGE_SIZE;
        if frames::pin_count(frame) > 0 {
            // An op uses the page (a READ into it): the child gets a
            // private copy now, so the op's data lands in this space's
            // page only.
            let copy = frames::alloc_user().ok_or(Errno::ENOMEM)?;
            copy_frame(frame, copy);
            let copy_flags = leaf_flags(region.protection());
            return child
                .map_new(virt, copy, copy_flags)
                .map_err(|_| Errno::ENOMEM);
        }
        frames::share(frame);
        child
            .map_new(virt, frame, flags - Flags::WRITABLE)
            .map_err(|_| Errno::ENOMEM)?;
        child.backing_mut(virt).cow_set().lock().insert(index);
        self.backing_mut(virt).cow_set().lock().insert(index);
        if flags.contains(Flags::WRITABLE) {
            self.set_flags(virt, flags - Flags::WRITABLE);
            gather.page(virt);
        }
        Ok(())
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
            Source::Physical,
        )?;
        for page in 0..pages {
            let virt = start + page * PAGE_SIZE;
            let frame = frames + page * PAGE_SIZE;
            // The frames are the caller's and outlive the mapping
            // (recorded as physical, so the space never frees them).
            if let Err(error) = self.map_fresh(virt, frame, flags) {
                let (mut owned, mut gather) = (FrameList::new(), Gather::default());
                self.unhook_pages(start, virt, false, &mut owned, &mut gather);
                self.regions.remove(PageRange::new(start, end)?);
                return Err(match error {
                    MapToError::FrameAllocationFailed => Errno::ENOMEM,
                    _ => Errno::EEXIST,
                });
            }
        }
        Ok(())
    }

    fn is_physical(&self, virt: u64) -> bool {
        self.regions
            .find(virt)
            .is_some_and(|region| region.object().is_physical())
    }

    /// Unmaps and releases the pages of `[start, start + len)` that are
    /// mapped.  Only for a space no CPU has loaded: a live one goes through
    /// [`Space::unhook`] and a shootdown.
    pub fn unmap(&mut self, start: u64, len: u64) {
        let (frames_to_release, _) = self.unhook(start, len);
        for frame in frames_to_release {
            frames::release(frame);
        }
    }

    /// Removes the mappings of `[start, start + len)` without releasing
    /// anything: returns the frames the space owned there (release them
    /// after the shootdown) and the invalidations to make.
    pub fn unhook(&mut self, start: u64, len: u64) -> (FrameList, Gather) {
        let (mut owned, mut gather) = (FrameList::new(), Gather::default());
        let owning = !self.is_physical(start);
        self.unhook_pages(
            start,
            start.saturating_add(len),
            owning,
            &mut owned,
            &mut gather,
        );
        (owned, gather)
    }

    /// Unmaps the pages of `[start, end)` that are mapped, gathering their
    /// invalidations and, if `owning`, their frames.
    fn unhook_pages(
        &mut self,
        start: u64,
        end: u64,
        owning: bool,
        owned: &mut FrameList,
        gather: &mut Gather,
    ) {
        let _ = for_each_page(self.pml4, start, end, |(virt, frame, _)| {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
            if let Ok((_, flush)) = self.mapper().unmap(page) {
                flush.ignore();
                gather.page(virt);
                if owning {
                    owned.push(frame);
                }
            }
            Ok::<(), ()>(())
        });
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
    /// Then writes the relocations into those frames (through the direct
    /// map: a RELRO segment is already read-only to the program).
    pub fn load(&mut self, image: &[u8], plan: &LoadPlan) -> Result<(), Errno> {
        for segment in &plan.segments {
            let (start, end) = segment.pages();
            let protection = Protection {
                writable: segment.writable && !segment.relro,
                executable: segment.executable,
            };
            self.map_zeroed(start, end - start, protection)?;
            let offset = segment.file_offset as usize;
            self.write(
                segment.vaddr,
                &image[offset..offset + segment.file_bytes as usize],
            )?;
        }
        for relocation in &plan.relocations {
            self.write(relocation.at, &relocation.value.to_le_bytes())?;
        }
        Ok(())
    }

    /// The frame and flags behind `virt` in this space.
    pub fn translate(&self, virt: u64) -> Option<(PhysAddr, Flags)> {
        super::paging::translate_in(self.pml4, virt)
    }

    /// Frames mapped in the user half.
    pub fn resident_pages(&self) -> usize {
        self.usage().resident_pages
    }

    /// What the space holds, in one walk of its page tables: `MEM_STATS`'s
    /// figures for the caller.
    pub fn usage(&self) -> Usage {
        let mut usage = Usage {
            table_pages: 1, // the PML4
            ..Usage::default()
        };
        self.walk_mapped(|mapped| match mapped {
            Mapped::Table(_) => usage.table_pages += 1,
            Mapped::Page { frame, region } => {
                usage.resident_pages += 1;
                if region.is_some_and(|(_, region)| is_private_dirty(region, frame)) {
                    usage.private_dirty_pages += 1;
                }
            }
        });
        usage
    }

    /// Calls `visit` for every frame under the user half, in address
    /// order, each page with the region holding it (the regions are walked
    /// alongside, not looked up per page).
    fn walk_mapped<'a>(&'a self, mut visit: impl FnMut(Mapped<'a>)) {
        let mut regions = self.regions.iter().enumerate().peekable();
        walk_user_half(self.pml4, &mut |frame, level, virt, _| {
            if level > 0 {
                return visit(Mapped::Table(frame));
            }
            while regions
                .peek()
                .is_some_and(|(_, region)| region.end() <= virt)
            {
                regions.next();
            }
            let region = regions
                .peek()
                .filter(|(_, region)| region.start() <= virt)
                .copied();
            visit(Mapped::Page { frame, region });
        });
    }

    /// Makes this space the current one on this CPU.
    pub fn activate(&self) {
        super::shootdown::switch_to(self.pml4.as_u64(), || {
            // SAFETY: the upper half is the kernel's, so the running code,
            // its stack and all kernel data stay mapped across the switch.
            unsafe { Cr3::write(PhysFrame::containing_address(self.pml4), Cr3Flags::empty()) };
        });
    }
}

/// A frame under the user half, as [`Space::walk_mapped`] finds it.
enum Mapped<'a> {
    /// A page table below the PML4.
    Table(PhysAddr),
    /// A mapped page, and the index (in address order) and region of the
    /// region holding it, if one does.
    Page {
        frame: PhysAddr,
        region: Option<(usize, &'a Region<Backing>)>,
    },
}

/// Whether the page of `region` at `frame` is private dirty memory: in a
/// private region (not shared, not physical), and mapped by no other
/// space.
fn is_private_dirty(region: &Region<Backing>, frame: PhysAddr) -> bool {
    let private = !region.flags().contains(RegionFlags::SHARED) && !region.object().is_physical();
    private && frames::owners(frame) == 1
}

/// Whether `region` maps an initfs file shared (never writable).
fn is_shared_file(region: &Region<Backing>) -> bool {
    let file = matches!(&region.object().source, Source::Object(object) if object.is_file());
    file && region.flags().contains(RegionFlags::SHARED)
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

/// The entry flags of a page with `protection`: `PROT_NONE` is present
/// without the user bit (the frame stays; any user access faults).
fn leaf_flags(protection: region::Protection) -> Flags {
    if protection == region::Protection::default() {
        Flags::PRESENT | nx_flag()
    } else {
        page_flags(protection.writable, protection.executable)
    }
}

/// `NO_EXECUTE` where the CPU has NX (the bit is reserved otherwise).
fn nx_flag() -> Flags {
    if crate::arch::cpu::features().nx {
        Flags::NO_EXECUTE
    } else {
        Flags::empty()
    }
}

/// Copies the page in `from` into `to`, a frame the caller owns alone.
fn copy_frame(from: PhysAddr, to: PhysAddr) {
    // SAFETY: both frames are RAM reachable through the direct map; `to`
    // is the caller's own, so nothing else writes it, and they differ.
    unsafe {
        core::ptr::copy_nonoverlapping(
            phys_to_virt(from.as_u64()).as_ptr::<u8>(),
            phys_to_virt(to.as_u64()).as_mut_ptr::<u8>(),
            PAGE_SIZE as usize,
        )
    };
}

/// Calls `visit(frame, level, virt, flags)` for every frame under the user
/// half, in address order: leaf frames at level 0 with the address they
/// map and their entry's flags, page tables at their level (1 = PT .. 3 =
/// PDPT), children before their table.
fn walk_user_half(pml4: PhysAddr, visit: &mut impl FnMut(PhysAddr, u8, u64, Flags)) {
    let _ = walk_tables(pml4, 4, 0, 0, USER_END, &mut |frame, level, virt, flags| {
        visit(frame, level, virt, flags);
        ControlFlow::Continue(())
    });
}

/// A page found by [`next_pages`]: its address, frame and entry flags.
type Leaf = (u64, PhysAddr, Flags);

/// Fills `out` with the next pages mapped in `[start, end)`, in address
/// order; how many it found (fewer than `out.len()`: none are left).  A
/// caller that changes the tables between batches walks them a batch at a
/// time from the address after the last page, with no list of them all.
fn next_pages(pml4: PhysAddr, start: u64, end: u64, out: &mut [Leaf]) -> usize {
    let mut found = 0;
    let _ = walk_tables(pml4, 4, 0, start, end, &mut |frame, level, virt, flags| {
        if level > 0 {
            return ControlFlow::Continue(());
        }
        out[found] = (virt, frame, flags);
        found += 1;
        if found == out.len() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
}

/// Pages per batch of [`next_pages`] (on the kernel stack).
const PAGE_BATCH: usize = 64;

/// Calls `each` for every page mapped in `[start, end)`, a batch at a time,
/// so `each` may change the tables; stops at its first error.
fn for_each_page<E>(
    pml4: PhysAddr,
    start: u64,
    end: u64,
    mut each: impl FnMut(Leaf) -> Result<(), E>,
) -> Result<(), E> {
    let mut batch = [(0, PhysAddr::zero(), Flags::empty()); PAGE_BATCH];
    let mut from = start;
    loop {
        let found = next_pages(pml4, from, end, &mut batch);
        for &leaf in &batch[..found] {
            each(leaf)?;
        }
        match batch[..found].last() {
            Some(&(virt, _, _)) if found == PAGE_BATCH => from = virt + PAGE_SIZE,
            _ => return Ok(()),
        }
    }
}

/// The walk behind [`walk_user_half`] and [`next_pages`]:
/// the entries of the table `table` at `level` (4 = PML4), which maps from
/// `base` on, that overlap `[start, end)`, until `visit` breaks.  Tables
/// are visited only when the range covers them whole (so a partial walk
/// never reports a table to free).
fn walk_tables(
    table: PhysAddr,
    level: u8,
    base: u64,
    start: u64,
    end: u64,
    visit: &mut impl FnMut(PhysAddr, u8, u64, Flags) -> ControlFlow<()>,
) -> ControlFlow<()> {
    // SAFETY: page tables live in RAM, reachable through the direct map.
    let table_ref = unsafe { &*phys_to_virt(table.as_u64()).as_ptr::<PageTable>() };
    let span = 1u64 << (12 + 9 * (u32::from(level) - 1));
    let entries = if level == 4 { 256 } else { 512 };
    let first = (start.saturating_sub(base) / span) as usize;
    for (index, entry) in table_ref.iter().enumerate().take(entries).skip(first) {
        let virt = base + index as u64 * span;
        if virt >= end {
            break;
        }
        if !entry.flags().contains(Flags::PRESENT) {
            continue;
        }
        let frame = entry.addr();
        if level == 1 {
            visit(frame, 0, virt, entry.flags())?;
        } else {
            walk_tables(frame, level - 1, virt, start, end, visit)?;
            if start <= virt && virt + span <= end {
                visit(frame, level - 1, virt, entry.flags())?;
            }
        }
    }
    ControlFlow::Continue(())
}

impl Drop for Space {
    fn drop(&mut self) {
        let (current, _) = Cr3::read();
        assert_ne!(
            current.start_address(),
            self.pml4,
            "dropping the active address space"
        );
        assert!(
            !super::shootdown::is_loaded_anywhere(self.pml4.as_u64()),
            "dropping an address space another CPU has loaded"
        );
        self.walk_mapped(|mapped| match mapped {
            Mapped::Table(frame) => frames::free(frame, 0),
            Mapped::Page { frame, region } => {
                if !region.is_some_and(|(_, region)| region.object().is_physical()) {
                    frames::release(frame);
                }
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

    /// Takes every frame user memory may have, chained through the frames
    /// themselves (a list on the heap would grow it for good).
    fn hold_user_frames() -> Option<PhysAddr> {
        let mut head: Option<PhysAddr> = None;
        while let Some(frame) = frames::alloc_user() {
            let next = head.map_or(0, |frame| frame.as_u64());
            // SAFETY: a frame just allocated, ours, through the direct map.
            unsafe { phys_to_virt(frame.as_u64()).as_mut_ptr::<u64>().write(next) };
            head = Some(frame);
        }
        head
    }

    fn release_held(mut head: Option<PhysAddr>) {
        while let Some(frame) = head {
            // SAFETY: a held frame, written by `hold_user_frames`.
            let next = unsafe { phys_to_virt(frame.as_u64()).as_ptr::<u64>().read() };
            frames::free(frame, 0);
            head = (next != 0).then(|| PhysAddr::new(next));
        }
    }

    crate::ktest!(
        fn user_memory_of_every_kind_stops_at_the_reserve() {
            let text = crate::fs::initfs::get()
                .and_then(|archive| archive.lookup("etc/motd").ok())
                .ok_or("etc/motd is missing")?
                .data;
            let rw = region::Protection {
                readable: true,
                writable: true,
                executable: false,
            };
            let anywhere = Placement::Anywhere { hint: 0 };
            let error = |e: Errno| alloc::format!("{e}");
            // Frames in use, the slab layer's spare slabs counted free.
            let in_use = || crate::mm::memcheck::footprint().frames_in_use;
            let baseline = in_use();
            {
                let mut parent = Space::new().map_err(error)?;
                let (anon, _, _) = parent
                    .map_user(
                        anywhere,
                        2 * PAGE_SIZE,
                        rw,
                        RegionFlags::empty(),
                        Source::Anonymous,
                        0,
                    )
                    .map_err(error)?;
                let file = Source::Object(super::object::for_file(text));
                let (mapped, _, _) = parent
                    .map_user(anywhere, PAGE_SIZE, rw, RegionFlags::empty(), file, 0)
                    .map_err(error)?;
                // A page shared copy-on-write with a child.
                parent.fault_for_kernel(anon, true).map_err(error)?;
                let (child, _) = parent.clone_cow();
                let child = child.map_err(error)?;
                // A page whose page table is not there yet.
                let (far, _, _) = parent
                    .map_user(
                        Placement::Anywhere { hint: 1 << 40 },
                        PAGE_SIZE,
                        rw,
                        RegionFlags::empty(),
                        Source::Anonymous,
                        0,
                    )
                    .map_err(error)?;
                let held = hold_user_frames();
                let reserve_kept = frames::free_frames() >= frames::user_reserve();
                let zero = parent.fault_for_kernel(anon + PAGE_SIZE, true).err();
                let copy = parent.fault_for_kernel(anon, true).err();
                let file_page = parent.fault_for_kernel(mapped, false).err();
                // A process's page tables and ring are user memory too: a
                // fork bomb stops at the reserve, not in the kernel heap.
                let table = parent.fault_for_kernel(far, true).err();
                let new_space = Space::new().err();
                let ring = crate::ring::Ring::new(64).err();
                release_held(held);
                ensure!(reserve_kept, "user memory ate into the kernel's reserve");
                ensure_eq!(zero, Some(Errno::ENOMEM));
                ensure_eq!(copy, Some(Errno::ENOMEM));
                ensure_eq!(file_page, Some(Errno::ENOMEM));
                ensure_eq!(table, Some(Errno::ENOMEM));
                ensure_eq!(new_space, Some(Errno::ENOMEM));
                ensure_eq!(ring, Some(Errno::ENOMEM));
                // With frames again, every kind resolves.
                parent
                    .fault_for_kernel(anon + PAGE_SIZE, true)
                    .map_err(error)?;
                parent.fault_for_kernel(anon, true).map_err(error)?;
                let (frame, _) = parent.fault_for_kernel(mapped, false).map_err(error)?;
                // SAFETY: a mapped frame of the space, read through the direct map.
                let first = unsafe { phys_to_virt(frame.as_u64()).as_ptr::<u8>().read() };
                ensure_eq!(first, text[0]);
                drop(child);
            }
            ensure_eq!(in_use(), baseline);
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
                load_bias: 0,
                relocations: vec![],
                segments: vec![
                    Segment {
                        vaddr: 0x40_0000,
                        mem_bytes: 4,
                        file_offset: 0x1000,
                        file_bytes: 4,
                        writable: false,
                        executable: true,
                        relro: false,
                    },
                    Segment {
                        vaddr: 0x40_1000,
                        mem_bytes: 0x1800,
                        file_offset: 0x2000,
                        file_bytes: 4,
                        writable: true,
                        executable: false,
                        relro: false,
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
