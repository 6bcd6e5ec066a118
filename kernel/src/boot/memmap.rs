//! The firmware's physical memory map, and the free page ranges derived from it.
//!
//! [`MemoryMap`] collects the raw E820-style entries the boot protocol reports
//! and [`MemoryMap::normalize`] turns them into sorted, disjoint, maximal
//! regions. [`BootFrames`] is the early allocator built from a map: the usable
//! RAM, page-aligned inward, out of which boot code carves the kernel image,
//! early page tables and the `PageInfo` array before the rest goes to the buddy
//! allocator (`crate::mm::frame::buddy`).
//!
//! Everything here has a fixed capacity and never allocates: it runs before
//! the kernel heap exists.
//!
//! ```text
//!  raw entries (any order, may overlap)     normalize()
//!  Reserved [0x9fc00, 0xa0000)              Usable   [0x0,     0x9fc00)
//!  Usable   [0x0,     0xa0000)       ==>    Reserved [0x9fc00, 0xa0000)
//!  Usable   [0x100000, 0x200000)            Usable   [0x100000, 0x300000)
//!  Usable   [0x180000, 0x300000)
//!
//!  BootFrames::from_map():  [0x0, 0x9f000)  [0x100000, 0x300000)
//!                           (usable RAM shrunk to whole pages)
//! ```
#![forbid(unsafe_code)]

use core::fmt;

/// Size of a physical page frame, in bytes.
pub const PAGE_SIZE: u64 = 4096;

/// Largest number of entries a [`MemoryMap`] holds.
pub const MAX_REGIONS: usize = 128;

/// Largest number of ranges a [`BootFrames`] holds. Twice the map's capacity
/// so that every usable region can be split once by a reservation (kernel
/// image, initrd, boot page tables) without dropping anything.
pub const MAX_FREE_RANGES: usize = 2 * MAX_REGIONS;

/// What the firmware says a physical address range is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// RAM the kernel may use.
    Usable,
    /// Used by firmware or devices; never touch.
    Reserved,
    /// ACPI tables; usable once the tables have been read.
    AcpiReclaimable,
    /// ACPI non-volatile storage; must be preserved across sleep states.
    AcpiNvs,
    /// RAM with detected errors.
    Unusable,
}

impl MemoryKind {
    /// Decodes an E820 type field. Types this kernel does not know (persistent
    /// memory, vendor types) are treated as [`MemoryKind::Reserved`] so that
    /// nothing unknown is ever allocated.
    pub const fn from_e820(kind: u32) -> Self {
        match kind {
            1 => Self::Usable,
            2 => Self::Reserved,
            3 => Self::AcpiReclaimable,
            4 => Self::AcpiNvs,
            5 => Self::Unusable,
            _ => Self::Reserved,
        }
    }

    /// Whether the kernel may allocate from a range of this kind.
    pub const fn is_usable(self) -> bool {
        matches!(self, Self::Usable)
    }

    /// How strictly the kind keeps the kernel away. Where entries overlap the
    /// stricter kind wins: treating RAM as reserved only wastes it, while the
    /// opposite corrupts firmware state.
    const fn restriction(self) -> u8 {
        match self {
            Self::Usable => 0,
            Self::AcpiReclaimable => 1,
            Self::Reserved => 2,
            Self::AcpiNvs => 3,
            Self::Unusable => 4,
        }
    }

    /// The stricter of two kinds.
    const fn strictest(self, other: Self) -> Self {
        if other.restriction() > self.restriction() {
            other
        } else {
            self
        }
    }
}

/// A physical address range `[start, end)` of one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    pub start: u64,
    pub end: u64,
    pub kind: MemoryKind,
}

impl MemoryRegion {
    /// Length of the region in bytes (0 if `end <= start`).
    pub const fn len_bytes(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// The filler for unused slots of a [`MemoryMap`]; never visible.
const UNUSED_REGION: MemoryRegion = MemoryRegion {
    start: 0,
    end: 0,
    kind: MemoryKind::Reserved,
};

/// [`MemoryMap::push`] found the map already holding [`MAX_REGIONS`] entries.
#[derive(Debug)]
pub struct MemoryMapFull;

impl fmt::Display for MemoryMapFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "memory map is full ({MAX_REGIONS} regions)")
    }
}

/// The firmware memory map: up to [`MAX_REGIONS`] regions in a fixed array.
#[derive(Clone)]
pub struct MemoryMap {
    regions: [MemoryRegion; MAX_REGIONS],
    len: usize,
}

impl MemoryMap {
    /// An empty map.
    pub const fn new() -> Self {
        Self {
            regions: [UNUSED_REGION; MAX_REGIONS],
            len: 0,
        }
    }

    /// Appends the entry `[start, start + len_bytes)`.
    ///
    /// Zero-length entries are ignored. An entry running past the top of the
    /// address space is clamped to end at `u64::MAX`; one that starts at
    /// `u64::MAX` is therefore empty and ignored too.
    ///
    /// # Errors
    ///
    /// [`MemoryMapFull`] if the map already holds [`MAX_REGIONS`] entries; the
    /// map is unchanged.
    pub fn push(
        &mut self,
        start: u64,
        len_bytes: u64,
        kind: MemoryKind,
    ) -> Result<(), MemoryMapFull> {
        let end = start.saturating_add(len_bytes);
        if end == start {
            return Ok(());
        }
        let slot = self.regions.get_mut(self.len).ok_or(MemoryMapFull)?;
        *slot = MemoryRegion { start, end, kind };
        self.len += 1;
        Ok(())
    }

    /// Rewrites the map as sorted, non-overlapping, maximal regions.
    ///
    /// Where entries overlap the strictest kind wins (`Unusable` > `AcpiNvs` >
    /// `Reserved` > `AcpiReclaimable` > `Usable`), and touching or overlapping
    /// ranges of one kind are merged.
    ///
    /// Splitting can need more than [`MAX_REGIONS`] entries (a usable range
    /// with many reservations inside it). When it does, the map degrades in
    /// this order until it fits:
    /// 1. two touching non-usable regions of different kinds become one region
    ///    of the stricter kind (no range stops being non-usable);
    /// 2. the smallest usable region is dropped, so that RAM is simply not
    ///    used.
    ///
    /// A non-usable range is never dropped and never becomes usable.
    pub fn normalize(&mut self) {
        // The sweep reads the old entries while writing the new ones; a copy
        // costs 3 KiB of stack, a buffer for the unbounded result would cost
        // twice that.
        let input = self.clone();
        let input = input.regions();
        self.len = 0;

        // Walk the elementary intervals between consecutive entry boundaries;
        // inside one, the set of covering entries (and so the kind) is fixed.
        let Some(mut position) = input.iter().map(|region| region.start).min() else {
            return;
        };
        loop {
            let mut next_boundary = None::<u64>;
            let mut kind = None::<MemoryKind>;
            for region in input {
                for boundary in [region.start, region.end] {
                    if boundary > position {
                        next_boundary =
                            Some(next_boundary.map_or(boundary, |next| next.min(boundary)));
                    }
                }
                if region.start <= position && position < region.end {
                    kind = Some(kind.map_or(region.kind, |kind| kind.strictest(region.kind)));
                }
            }
            let Some(next_boundary) = next_boundary else {
                break;
            };
            if let Some(kind) = kind {
                self.emit(MemoryRegion {
                    start: position,
                    end: next_boundary,
                    kind,
                });
            }
            position = next_boundary;
        }
    }

    /// Whether the regions are already what [`Self::normalize`] produces:
    /// sorted, non-overlapping, and no two touching regions of one kind.
    pub fn is_normalized(&self) -> bool {
        self.regions().windows(2).all(|pair| {
            pair[0].end < pair[1].start
                || (pair[0].end == pair[1].start && pair[0].kind != pair[1].kind)
        })
    }

    /// The regions, in insertion order or, after [`Self::normalize`], sorted.
    pub fn regions(&self) -> &[MemoryRegion] {
        &self.regions[..self.len]
    }

    /// Total bytes of usable regions. Overlapping entries are counted twice,
    /// so call it on a normalized map.
    pub fn usable_bytes(&self) -> u64 {
        self.regions()
            .iter()
            .filter(|region| region.kind.is_usable())
            .fold(0, |total, region| total.saturating_add(region.len_bytes()))
    }

    /// The highest end address of any usable region; 0 if there is none.
    pub fn end_of_usable(&self) -> u64 {
        self.regions()
            .iter()
            .filter(|region| region.kind.is_usable())
            .map(|region| region.end)
            .max()
            .unwrap_or(0)
    }

    /// Appends a region produced by the sweep in [`Self::normalize`], which
    /// hands them over in address order and never overlapping.
    fn emit(&mut self, region: MemoryRegion) {
        loop {
            if let Some(last) = self.regions[..self.len].last_mut()
                && last.end == region.start
                && last.kind == region.kind
            {
                last.end = region.end;
                return;
            }
            if self.len < MAX_REGIONS {
                self.regions[self.len] = region;
                self.len += 1;
                return;
            }
            if !self.make_room_for(region) {
                return;
            }
        }
    }

    /// Frees a slot for `incoming` (the next region of the sweep) when the map
    /// is full. Returns whether `incoming` still has to be appended; false when
    /// it was absorbed or dropped.
    fn make_room_for(&mut self, incoming: MemoryRegion) -> bool {
        let touching_non_usable = |a: &MemoryRegion, b: &MemoryRegion| {
            !a.kind.is_usable() && !b.kind.is_usable() && a.end == b.start
        };

        if let Some(index) = self
            .regions()
            .windows(2)
            .position(|pair| touching_non_usable(&pair[0], &pair[1]))
        {
            let upper = self.regions[index + 1];
            let lower = &mut self.regions[index];
            lower.end = upper.end;
            lower.kind = lower.kind.strictest(upper.kind);
            self.remove(index + 1);
            self.merge_with_neighbours(index);
            return true;
        }

        let last_index = self.len - 1;
        if touching_non_usable(&self.regions[last_index], &incoming) {
            let last = &mut self.regions[last_index];
            last.end = incoming.end;
            last.kind = last.kind.strictest(incoming.kind);
            self.merge_with_neighbours(last_index);
            return false;
        }

        let smallest_usable = self
            .regions()
            .iter()
            .enumerate()
            .filter(|(_, region)| region.kind.is_usable())
            .min_by_key(|(_, region)| region.len_bytes())
            .map(|(index, region)| (index, region.len_bytes()));
        match smallest_usable {
            Some((_, smallest))
                if incoming.kind.is_usable() && incoming.len_bytes() <= smallest =>
            {
                false
            }
            // A dropped region leaves a gap, so its neighbours cannot merge.
            Some((index, _)) => {
                self.remove(index);
                true
            }
            None => {
                // Unreachable: all MAX_REGIONS stored regions are then
                // non-usable and separated by gaps, so each needs an input
                // entry of its own, and so does `incoming`: more entries than
                // the map holds. Should it happen anyway, widening the last
                // region over the gap keeps every non-usable byte non-usable
                // and only loses RAM.
                let last = &mut self.regions[last_index];
                last.end = incoming.end;
                last.kind = last.kind.strictest(incoming.kind);
                false
            }
        }
    }

    /// Merges the region at `index` with a touching neighbour of the same kind
    /// on either side, keeping the map maximal after a kind has changed.
    fn merge_with_neighbours(&mut self, index: usize) {
        if index + 1 < self.len {
            let (current, next) = (self.regions[index], self.regions[index + 1]);
            if current.end == next.start && current.kind == next.kind {
                self.regions[index].end = next.end;
                self.remove(index + 1);
            }
        }
        if index > 0 {
            let (previous, current) = (self.regions[index - 1], self.regions[index]);
            if previous.end == current.start && previous.kind == current.kind {
                self.regions[index - 1].end = current.end;
                self.remove(index);
            }
        }
    }

    /// Removes the entry at `index`, keeping the order of the rest.
    fn remove(&mut self, index: usize) {
        self.regions.copy_within(index + 1..self.len, index);
        self.len -= 1;
    }
}

impl Default for MemoryMap {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.regions()).finish()
    }
}

/// A page-aligned physical address range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysRange {
    pub start: u64,
    pub end: u64,
}

impl PhysRange {
    /// Length of the range in bytes (0 if `end <= start`).
    pub const fn len_bytes(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// The filler for unused slots of a [`BootFrames`]; never visible.
const UNUSED_RANGE: PhysRange = PhysRange { start: 0, end: 0 };

/// The free physical page ranges at boot: the usable RAM of a normalized map,
/// page-aligned inward, minus what [`Self::reserve`] and [`Self::take`] have
/// removed. The ranges are sorted, disjoint and non-empty.
#[derive(Clone)]
pub struct BootFrames {
    ranges: [PhysRange; MAX_FREE_RANGES],
    len: usize,
}

impl BootFrames {
    /// The usable RAM of `map`, each region shrunk inward to whole pages, with
    /// regions smaller than a page left out. `map` need not be normalized:
    /// this normalizes a copy, so a reserved entry inside a usable one is
    /// respected either way.
    pub fn from_map(map: &MemoryMap) -> Self {
        // Normalizing takes two 3 KiB copies of the map; the boot path
        // usually passes a normalized map and needs neither.
        let copy;
        let normalized = if map.is_normalized() {
            map
        } else {
            copy = {
                let mut copy = map.clone();
                copy.normalize();
                copy
            };
            &copy
        };

        let mut frames = Self {
            ranges: [UNUSED_RANGE; MAX_FREE_RANGES],
            len: 0,
        };
        for region in normalized.regions() {
            if !region.kind.is_usable() {
                continue;
            }
            let Some(start) = align_up(region.start, PAGE_SIZE) else {
                continue;
            };
            let end = align_down(region.end, PAGE_SIZE);
            // A normalized map has at most MAX_REGIONS usable regions, fewer
            // than the capacity, so this never runs out of slots.
            if start < end && frames.len < MAX_FREE_RANGES {
                frames.ranges[frames.len] = PhysRange { start, end };
                frames.len += 1;
            }
        }
        frames
    }

    /// Removes `[start, end)`, widened outward to page boundaries, from the
    /// free ranges. Nothing happens if `start >= end`.
    ///
    /// A reservation strictly inside one range splits it in two, which needs a
    /// free slot. Without one the lower part is kept and the upper part is
    /// dropped: that RAM goes unused, but is never handed out twice.
    pub fn reserve(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let start = align_down(start, PAGE_SIZE);
        // Past the last page boundary the reservation covers everything above.
        let end = align_up(end, PAGE_SIZE).unwrap_or(u64::MAX);

        let mut index = 0;
        while index < self.len {
            let range = self.ranges[index];
            if range.end <= start {
                index += 1;
                continue;
            }
            if range.start >= end {
                break;
            }
            let keeps_lower = range.start < start;
            let keeps_upper = range.end > end;
            match (keeps_lower, keeps_upper) {
                (false, false) => self.remove(index),
                (true, false) => {
                    self.ranges[index].end = start;
                    index += 1;
                }
                (false, true) => {
                    self.ranges[index].start = end;
                    break;
                }
                (true, true) => {
                    self.ranges[index].end = start;
                    self.insert(
                        index + 1,
                        PhysRange {
                            start: end,
                            end: range.end,
                        },
                    );
                    break;
                }
            }
        }
    }

    /// Carves `len_bytes`, rounded up to whole pages, out of the free ranges
    /// and returns its start address.
    ///
    /// The block starts at a multiple of `align_bytes` (a power of two of at
    /// least [`PAGE_SIZE`]) and ends at or below `below`. Of all placements
    /// the highest is chosen, keeping low memory for the devices and the SMP
    /// trampoline that need it. Returns `None` for a zero length, an invalid
    /// alignment, or when nothing fits.
    ///
    /// Carving from the middle of a range splits it; as in [`Self::reserve`],
    /// if no slot is left the part above the carved block goes unused.
    pub fn take(&mut self, len_bytes: u64, align_bytes: u64, below: u64) -> Option<u64> {
        if len_bytes == 0 || !align_bytes.is_power_of_two() || align_bytes < PAGE_SIZE {
            return None;
        }
        let len_bytes = align_up(len_bytes, PAGE_SIZE)?;

        // Ranges are sorted, so the first fit from the top is the highest.
        let start = self.ranges().iter().rev().find_map(|range| {
            let top = range.end.min(below);
            let start = align_down(top.checked_sub(len_bytes)?, align_bytes);
            (start >= range.start).then_some(start)
        })?;
        self.reserve(start, start + len_bytes);
        Some(start)
    }

    /// The free ranges, sorted by address.
    pub fn ranges(&self) -> &[PhysRange] {
        &self.ranges[..self.len]
    }

    /// Total bytes in the free ranges.
    pub fn free_bytes(&self) -> u64 {
        self.ranges().iter().map(PhysRange::len_bytes).sum()
    }

    /// Removes the range at `index`, keeping the order of the rest.
    fn remove(&mut self, index: usize) {
        self.ranges.copy_within(index + 1..self.len, index);
        self.len -= 1;
    }

    /// Inserts `range` at `index`; drops it if every slot is taken.
    fn insert(&mut self, index: usize, range: PhysRange) {
        if self.len == MAX_FREE_RANGES {
            return;
        }
        self.ranges.copy_within(index..self.len, index + 1);
        self.ranges[index] = range;
        self.len += 1;
    }
}

impl fmt::Debug for BootFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.ranges()).finish()
    }
}

/// Rounds `address` down to a multiple of `align` (a power of two).
const fn align_down(address: u64, align: u64) -> u64 {
    address & !(align - 1)
}

/// Rounds `address` up to a multiple of `align` (a power of two); `None` if
/// that overflows.
const fn align_up(address: u64, align: u64) -> Option<u64> {
    match address.checked_add(align - 1) {
        Some(bumped) => Some(align_down(bumped, align)),
        None => None,
    }
}

// The alignment helpers compute with masks.
const _: () = assert!(PAGE_SIZE.is_power_of_two());

#[cfg(test)]
#[path = "memmap_tests.rs"]
mod tests;
