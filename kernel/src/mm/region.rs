//! Regions of a user address space: what each part of the user half is
//! meant to be, apart from the page tables that realise it.
//!
//! - [`Region`]: `[start, end)`, a [`Protection`], [`RegionFlags`], and a
//!   view of a backing object `O` from byte `offset` on;
//! - [`RegionTree`] (`region/tree.rs`): a process's regions by start
//!   address, and the logic of `MMAP`, `MUNMAP` and `MPROTECT` on them
//!   (placement, split, unmap, protect) with their rules;
//! - [`PageRange`]: a checked page range of the user half; its `for_*`
//!   constructors are those calls' argument checks.
//!
//! Pure logic, no hardware and no `unsafe`: the tree says what should be
//! mapped, `space::Space` maps it, and the pieces [`RegionTree::unmap`]
//! returns say which pages to unmap and which frames to free.  The object
//! type is a parameter (a VmObject handle in the kernel, an integer in the
//! host tests); a region only clones it when it splits.
//!
//! A split keeps the offset-in-object: the right half starts further into
//! the object by as many bytes as the left half is long, however many splits
//! came before.
//!
//! ```text
//!   object  | 0x8000 | 0x9000 | 0xa000 | 0xb000 |
//!              ^                 ^
//!   before  [0x10000 ............................. 0x14000)  offset 0x8000
//!                           split_at(0x12000)
//!   after   [0x10000 ...... 0x12000)[0x12000 ..... 0x14000)
//!            offset 0x8000           offset 0x8000 + (0x12000 - 0x10000)
//!                                          = 0xa000
//! ```
//!
//! The rules (SerenityOS's `munmap`/`mprotect` restriction, Linux's errnos;
//! every refused call changes nothing):
//!
//! ```text
//!   call             refused when                                errno
//!   any              start not page-aligned, length 0            EINVAL
//!   MUNMAP           range past the user half (or wrapping)      EINVAL
//!   MMAP, MPROTECT   range past the user half (or wrapping)      ENOMEM
//!   MMAP fixed       start below USER_MIN (page 0)               EPERM
//!   MUNMAP, MPROTECT,
//!   MMAP fixed       range touches a region not made by MMAP     EPERM
//!   MPROTECT         range covers a hole                         ENOMEM
//!   MMAP, MPROTECT   writable and executable at once             EACCES
//!   any              would need more than max_regions regions    ENOMEM
//! ```
//!
//! `MUNMAP` over holes is fine (nothing to do there), as on Linux.
//! `MPROTECT` over a hole is `ENOMEM` as on Linux, but all or nothing:
//! Linux changes the regions before the hole, this changes none.  A zero
//! length is `EINVAL` for every call (Linux's `mprotect` returns 0 there).
#![forbid(unsafe_code)]

mod tree;

pub use tree::{MAX_REGIONS, RegionTree};

use super::PAGE_SIZE;
use crate::proc::elf::{USER_END, USER_MIN};
use abi::Errno;
use abi::flags::{ProtFlags, validate_bits};
use bitflags::bitflags;

/// What a region's pages allow.  Empty (`PROT_NONE`) is mapped not
/// present, so any access faults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Protection {
    pub readable: bool,
    pub writable: bool,
    pub executable: bool,
}

impl Protection {
    /// Decodes a user `PROT_*` word: `EINVAL` for unknown bits, `EACCES`
    /// for writable and executable at once.  `EACCES` is what Linux answers
    /// when a security policy forbids a protection (SELinux's `execmem`);
    /// OpenBSD's `ENOTSUP` has no counterpart in [`Errno`].
    pub fn from_user(raw: u32) -> Result<Self, Errno> {
        let protection = Self::from(validate_bits::<ProtFlags>(raw)?);
        if protection.is_write_execute() {
            return Err(Errno::EACCES);
        }
        Ok(protection)
    }

    /// Writable and executable at once: refused for every region user
    /// space controls.
    pub fn is_write_execute(self) -> bool {
        self.writable && self.executable
    }
}

impl From<ProtFlags> for Protection {
    fn from(prot: ProtFlags) -> Self {
        Self {
            readable: prot.contains(ProtFlags::READ),
            writable: prot.contains(ProtFlags::WRITE),
            executable: prot.contains(ProtFlags::EXEC),
        }
    }
}

impl From<Protection> for ProtFlags {
    fn from(protection: Protection) -> Self {
        let mut prot = ProtFlags::empty();
        prot.set(ProtFlags::READ, protection.readable);
        prot.set(ProtFlags::WRITE, protection.writable);
        prot.set(ProtFlags::EXEC, protection.executable);
        prot
    }
}

bitflags! {
    /// What kind of region it is, beyond its protection.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct RegionFlags: u8 {
        /// User code may touch it; without it the region is kernel-only
        /// memory in the user half (an ELF image kept for the kernel).
        const USER_ACCESSIBLE = 1 << 0;
        /// A thread stack: user RSP must always lie in such a region.
        const STACK = 1 << 1;
        /// Made by `MMAP`: the only kind `MUNMAP` and `MPROTECT` may touch.
        const MMAPPED = 1 << 2;
        /// Writes go to the object, seen by every mapping of it.
        const SHARED = 1 << 3;
        /// Private pages still shared with another space: the first write
        /// copies.
        const COW = 1 << 4;
    }
}

/// A non-empty, page-aligned range `[start, end)` within the user half.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageRange {
    start: u64,
    end: u64,
}

impl PageRange {
    /// The whole user half, page 0 excluded: the default placement bounds.
    pub const USER: Self = Self {
        start: USER_MIN,
        end: USER_END,
    };

    /// `[start, end)` for a constant: the checks of [`PageRange::new`] at
    /// compile time.
    pub const fn between(start: u64, end: u64) -> Self {
        assert!(start.is_multiple_of(PAGE_SIZE) && end.is_multiple_of(PAGE_SIZE));
        assert!(start < end && end <= USER_END);
        Self { start, end }
    }

    /// `[start, end)`: `EINVAL` unless both are page-aligned and
    /// `start < end <= USER_END`.
    pub fn new(start: u64, end: u64) -> Result<Self, Errno> {
        let aligned = start.is_multiple_of(PAGE_SIZE) && end.is_multiple_of(PAGE_SIZE);
        if !aligned || start >= end || end > USER_END {
            return Err(Errno::EINVAL);
        }
        Ok(Self { start, end })
    }

    /// `MUNMAP`'s `(addr, len_bytes)`, the length rounded up to pages.
    /// Past the user half is `EINVAL` (Linux's `munmap`).
    pub fn for_munmap(addr: u64, len_bytes: u64) -> Result<Self, Errno> {
        let end = user_end(addr, len_bytes)?.ok_or(Errno::EINVAL)?;
        Ok(Self { start: addr, end })
    }

    /// `MPROTECT`'s `(addr, len_bytes)`, the length rounded up to pages.
    /// Past the user half is `ENOMEM` (Linux: no mapping there).
    pub fn for_mprotect(addr: u64, len_bytes: u64) -> Result<Self, Errno> {
        let end = user_end(addr, len_bytes)?.ok_or(Errno::ENOMEM)?;
        Ok(Self { start: addr, end })
    }

    /// `MMAP`'s `(addr, len_bytes)` with `MAP_FIXED`.  Past the user half
    /// is `ENOMEM`; below `USER_MIN` is `EPERM` (Linux's `mmap_min_addr`).
    pub fn for_mmap_fixed(addr: u64, len_bytes: u64) -> Result<Self, Errno> {
        let end = user_end(addr, len_bytes)?.ok_or(Errno::ENOMEM)?;
        if addr < USER_MIN {
            return Err(Errno::EPERM);
        }
        Ok(Self { start: addr, end })
    }

    pub fn start(self) -> u64 {
        self.start
    }

    pub fn end(self) -> u64 {
        self.end
    }

    pub fn len_bytes(self) -> u64 {
        self.end - self.start
    }

    pub fn contains(self, addr: u64) -> bool {
        (self.start..self.end).contains(&addr)
    }

    /// Whether `other` lies wholly inside this range.
    pub fn covers(self, other: PageRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// `MMAP`'s length rounded up to whole pages: `EINVAL` for 0, `ENOMEM`
/// when it cannot fit in the user half (Linux's `do_mmap`).
pub fn mmap_len(len_bytes: u64) -> Result<u64, Errno> {
    if len_bytes == 0 {
        return Err(Errno::EINVAL);
    }
    len_bytes
        .checked_next_multiple_of(PAGE_SIZE)
        .filter(|&len| len <= PageRange::USER.len_bytes())
        .ok_or(Errno::ENOMEM)
}

/// The end of `[addr, addr + len_bytes)` with the length rounded up to
/// pages, or `None` past the user half or wrapping; `EINVAL` for an
/// unaligned `addr` or a zero length.
fn user_end(addr: u64, len_bytes: u64) -> Result<Option<u64>, Errno> {
    if !addr.is_multiple_of(PAGE_SIZE) || len_bytes == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(len_bytes
        .checked_next_multiple_of(PAGE_SIZE)
        .and_then(|len| addr.checked_add(len))
        .filter(|&end| end <= USER_END))
}

/// A range of the user half with one protection and one kind, showing the
/// object `O` from byte `offset` on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region<O> {
    start: u64,
    end: u64,
    protection: Protection,
    flags: RegionFlags,
    object: O,
    /// Where `start` falls in the object, in bytes.
    offset: u64,
}

impl<O> Region<O> {
    /// A region over `range` showing `object` from `offset` on: `EINVAL`
    /// for an unaligned offset, `EOVERFLOW` when the object range would
    /// pass 2^64 (Linux's `mmap` answers).
    pub fn new(
        range: PageRange,
        protection: Protection,
        flags: RegionFlags,
        object: O,
        offset: u64,
    ) -> Result<Self, Errno> {
        if !offset.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        offset
            .checked_add(range.len_bytes())
            .ok_or(Errno::EOVERFLOW)?;
        Ok(Self {
            start: range.start,
            end: range.end,
            protection,
            flags,
            object,
            offset,
        })
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn end(&self) -> u64 {
        self.end
    }

    pub fn range(&self) -> PageRange {
        PageRange {
            start: self.start,
            end: self.end,
        }
    }

    pub fn len_bytes(&self) -> u64 {
        self.end - self.start
    }

    pub fn contains(&self, addr: u64) -> bool {
        self.range().contains(addr)
    }

    pub fn protection(&self) -> Protection {
        self.protection
    }

    pub fn flags(&self) -> RegionFlags {
        self.flags
    }

    pub fn is_mmapped(&self) -> bool {
        self.flags.contains(RegionFlags::MMAPPED)
    }

    pub fn object(&self) -> &O {
        &self.object
    }

    pub fn object_mut(&mut self) -> &mut O {
        &mut self.object
    }

    /// Where `start` falls in the object, in bytes.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Where `addr` (inside the region) falls in the object, in bytes.
    pub fn offset_of(&self, addr: u64) -> u64 {
        debug_assert!(self.contains(addr), "{addr:#x} outside the region");
        self.offset + (addr - self.start)
    }

    /// Whether user space may change it (with `MUNMAP` or `MPROTECT`).
    fn check_user_may_change(&self) -> Result<(), Errno> {
        if self.is_mmapped() {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    /// Whether it breaks the tree's invariant: no region user space made is
    /// ever writable and executable.  The kernel's own (an ELF segment) may
    /// be, since the program image asks for it.
    fn is_forbidden_write_execute(&self) -> bool {
        self.is_mmapped() && self.protection.is_write_execute()
    }
}

impl<O: Clone> Region<O> {
    /// Cuts the region at `at` (page-aligned, strictly inside): keeps
    /// `[start, at)` and returns `[at, end)`, which starts as much further
    /// into the object as the kept half is long.
    fn split_off(&mut self, at: u64) -> Self {
        debug_assert!(self.start < at && at < self.end && at.is_multiple_of(PAGE_SIZE));
        let right = Self {
            start: at,
            end: self.end,
            protection: self.protection,
            flags: self.flags,
            object: self.object.clone(),
            offset: self.offset_of(at),
        };
        self.end = at;
        right
    }
}

#[cfg(test)]
#[path = "region_tests.rs"]
mod tests;
