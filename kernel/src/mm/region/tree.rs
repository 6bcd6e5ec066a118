//! [`RegionTree`]: a space's regions, ordered and disjoint, with the
//! `MMAP`/`MUNMAP`/`MPROTECT` logic.  See `super` for the rules.

use super::{PageRange, Protection, Region};
use crate::mm::PAGE_SIZE;
use abi::Errno;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// The default ceiling on regions per space: Linux's `vm.max_map_count`.
/// Without one, alternating `MPROTECT`s a page apart would grow the kernel
/// heap by a region per page.
pub const MAX_REGIONS: usize = 65_530;

/// The regions of one address space, keyed by start address; they never
/// overlap, and none user space made is writable and executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionTree<O> {
    regions: BTreeMap<u64, Region<O>>,
    max_regions: usize,
}

impl<O> Default for RegionTree<O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O> RegionTree<O> {
    /// An empty tree holding at most [`MAX_REGIONS`] regions.
    pub fn new() -> Self {
        Self::with_max_regions(MAX_REGIONS)
    }

    /// An empty tree holding at most `max_regions` regions.
    pub fn with_max_regions(max_regions: usize) -> Self {
        Self {
            regions: BTreeMap::new(),
            max_regions,
        }
    }

    pub fn len(&self) -> usize {
        self.regions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// Every region, in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Region<O>> {
        self.regions.values()
    }

    /// The region holding `addr`.
    pub fn find(&self, addr: u64) -> Option<&Region<O>> {
        self.regions
            .range(..=addr)
            .next_back()
            .map(|(_, region)| region)
            .filter(|region| region.end > addr)
    }

    /// The region holding `addr`, to change its object (never its range or
    /// protection: those change through the tree's own calls).
    pub fn find_mut(&mut self, addr: u64) -> Option<&mut Region<O>> {
        self.regions
            .range_mut(..=addr)
            .next_back()
            .map(|(_, region)| region)
            .filter(|region| region.end > addr)
    }

    /// The regions sharing at least a page with `range`, in address order.
    pub fn overlapping(&self, range: PageRange) -> impl Iterator<Item = &Region<O>> {
        let first = self
            .find(range.start)
            .map_or(range.start, |region| region.start);
        self.regions
            .range(first..range.end)
            .map(|(_, region)| region)
    }

    /// Whether no region touches `range`.
    pub fn is_free(&self, range: PageRange) -> bool {
        self.overlapping(range).next().is_none()
    }

    /// Adds `region`: `EACCES` if user space made it writable and
    /// executable, `EEXIST` if it overlaps a region, `ENOMEM` when the tree
    /// is full.
    pub fn insert(&mut self, region: Region<O>) -> Result<(), Errno> {
        if region.is_forbidden_write_execute() {
            return Err(Errno::EACCES);
        }
        if !self.is_free(region.range()) {
            return Err(Errno::EEXIST);
        }
        self.check_room(self.len() + 1)?;
        self.regions.insert(region.start, region);
        Ok(())
    }

    /// Where to place `len_bytes` (whole pages) for an `MMAP` without
    /// `MAP_FIXED`: at `hint` rounded up to a page if that range is free and
    /// inside `bounds` (a 0 hint is none), else top-down: the highest free
    /// range in `bounds`, as Linux's default x86_64 layout does, so mappings
    /// grow down from under the stacks and low addresses stay for the
    /// program image.  `EINVAL` for an empty or unaligned length, `ENOMEM`
    /// when nothing fits.
    pub fn find_free(&self, len_bytes: u64, hint: u64, bounds: PageRange) -> Result<u64, Errno> {
        if len_bytes == 0 || !len_bytes.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let hinted = hint
            .checked_next_multiple_of(PAGE_SIZE)
            .filter(|&start| start != 0)
            .and_then(|start| PageRange::new(start, start.checked_add(len_bytes)?).ok())
            .filter(|&wanted| bounds.covers(wanted) && self.is_free(wanted));
        if let Some(wanted) = hinted {
            return Ok(wanted.start);
        }
        // Walk the gaps from the top: `gap_end` is where the gap below the
        // regions seen so far ends.
        let mut gap_end = bounds.end;
        for region in self.regions.range(..bounds.end).rev().map(|(_, r)| r) {
            let gap_start = region.end.max(bounds.start);
            if gap_end > gap_start && gap_end - gap_start >= len_bytes {
                return Ok(gap_end - len_bytes);
            }
            gap_end = gap_end.min(region.start);
            if gap_end <= bounds.start {
                return Err(Errno::ENOMEM);
            }
        }
        if gap_end - bounds.start >= len_bytes {
            Ok(gap_end - len_bytes)
        } else {
            Err(Errno::ENOMEM)
        }
    }

    /// Checks an `MUNMAP` of `range` without doing it: `EPERM` if it
    /// touches a region `MMAP` did not make, `ENOMEM` if a split would
    /// overfill the tree.  Holes are fine.
    pub fn check_unmap(&self, range: PageRange) -> Result<(), Errno> {
        self.check_replace(range, 0)
    }

    /// Checks an `MPROTECT` of `range` to `protection` without doing it:
    /// `EACCES` for writable and executable, then, in address order, the
    /// first hole (`ENOMEM`) or region `MMAP` did not make (`EPERM`);
    /// `ENOMEM` if a split would overfill the tree.
    pub fn check_protect(&self, range: PageRange, protection: Protection) -> Result<(), Errno> {
        if protection.is_write_execute() {
            return Err(Errno::EACCES);
        }
        let mut covered_to = range.start;
        for region in self.overlapping(range) {
            if region.start > covered_to {
                return Err(Errno::ENOMEM);
            }
            region.check_user_may_change()?;
            covered_to = region.end;
        }
        if covered_to < range.end {
            return Err(Errno::ENOMEM);
        }
        let splits = self.edge_splits(range, |region| region.protection != protection);
        self.check_room(self.len() + splits)
    }

    /// `ENOMEM` unless the tree may hold `len` regions.
    fn check_room(&self, len: usize) -> Result<(), Errno> {
        if len > self.max_regions {
            Err(Errno::ENOMEM)
        } else {
            Ok(())
        }
    }

    /// Checks removing `range` and then adding `added` regions.
    fn check_replace(&self, range: PageRange, added: usize) -> Result<(), Errno> {
        let mut removed = 0;
        for region in self.overlapping(range) {
            region.check_user_may_change()?;
            removed += 1;
        }
        let splits = self.edge_splits(range, |_| true);
        self.check_room(self.len() + splits + added - removed)
    }

    /// How many of `range`'s edges lie strictly inside a region that
    /// `wanted` accepts: the splits an operation on `range` needs.
    fn edge_splits(&self, range: PageRange, wanted: impl Fn(&Region<O>) -> bool) -> usize {
        [range.start, range.end]
            .into_iter()
            .filter(|&edge| self.splits_at(edge, &wanted))
            .count()
    }

    /// Whether `addr` lies strictly inside a region that `wanted` accepts.
    fn splits_at(&self, addr: u64, wanted: impl Fn(&Region<O>) -> bool) -> bool {
        self.find(addr)
            .is_some_and(|region| region.start != addr && wanted(region))
    }
}

/// What splits a region, which clones its object handle.
impl<O: Clone> RegionTree<O> {
    /// Splits the region holding `addr` in two at `addr`, keeping each
    /// half's offset-in-object.  `Ok(false)` if `addr` is a region's start
    /// or in no region; `EINVAL` if it is not page-aligned, `ENOMEM` when
    /// the tree is full.
    pub fn split_at(&mut self, addr: u64) -> Result<bool, Errno> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if self.splits_at(addr, |_| true) {
            self.check_room(self.len() + 1)?;
        }
        Ok(self.split_inside(addr))
    }

    /// `MUNMAP`: removes exactly `range` from the tree, splitting the
    /// regions at its edges, and returns the removed pieces in address
    /// order (each with its own offset-in-object) for the caller to unmap
    /// and release.  Refused as [`Self::check_unmap`] says, changing
    /// nothing.
    pub fn unmap(&mut self, range: PageRange) -> Result<Vec<Region<O>>, Errno> {
        self.check_unmap(range)?;
        Ok(self.remove_range(range))
    }

    /// Removes exactly `range` whatever made its regions: for the kernel's
    /// own mappings (a thread stack it gave back), never for a user call.
    pub fn remove(&mut self, range: PageRange) -> Vec<Region<O>> {
        self.remove_range(range)
    }

    /// `MMAP` with `MAP_FIXED`: `region` takes the place of whatever was in
    /// its range, returned as [`Self::unmap`] returns it.  Refused (nothing
    /// changed) with `EACCES` for a user region writable and executable,
    /// `EPERM` over a region `MMAP` did not make, `ENOMEM` when the tree
    /// would overfill.
    pub fn replace(&mut self, region: Region<O>) -> Result<Vec<Region<O>>, Errno> {
        if region.is_forbidden_write_execute() {
            return Err(Errno::EACCES);
        }
        self.check_replace(region.range(), 1)?;
        let removed = self.remove_range(region.range());
        self.regions.insert(region.start, region);
        Ok(removed)
    }

    /// `MPROTECT`: gives every page of `range` `protection`, splitting the
    /// regions at its edges if their protection changes.  Returns the
    /// ranges whose protection changed (coalesced, in address order), whose
    /// page-table entries the caller must update; regions that already had
    /// it are neither split nor listed.  Refused as
    /// [`Self::check_protect`] says, changing nothing.
    pub fn protect(
        &mut self,
        range: PageRange,
        protection: Protection,
    ) -> Result<Vec<(u64, u64)>, Errno> {
        self.check_protect(range, protection)?;
        for edge in [range.start, range.end] {
            if self.splits_at(edge, |region| region.protection != protection) {
                self.split_inside(edge);
            }
        }
        let mut changed: Vec<(u64, u64)> = Vec::new();
        for region in self
            .regions
            .range_mut(range.start..range.end)
            .map(|(_, r)| r)
        {
            if region.protection == protection {
                continue;
            }
            region.protection = protection;
            match changed.last_mut() {
                Some((_, end)) if *end == region.start => *end = region.end,
                _ => changed.push((region.start, region.end)),
            }
        }
        Ok(changed)
    }

    /// Splits the region strictly around `addr`, if any (no room check).
    fn split_inside(&mut self, addr: u64) -> bool {
        let Some((_, region)) = self.regions.range_mut(..addr).next_back() else {
            return false;
        };
        if region.end <= addr {
            return false;
        }
        let right = region.split_off(addr);
        self.regions.insert(addr, right);
        true
    }

    /// Cuts `range` out of the tree and returns the pieces (no checks).
    fn remove_range(&mut self, range: PageRange) -> Vec<Region<O>> {
        self.split_inside(range.start);
        self.split_inside(range.end);
        let starts: Vec<u64> = self
            .regions
            .range(range.start..range.end)
            .map(|(&start, _)| start)
            .collect();
        starts
            .into_iter()
            .filter_map(|start| self.regions.remove(&start))
            .collect()
    }
}
