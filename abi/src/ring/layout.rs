//! Where things are in a ring mapping: [`RingHeader`] (the shared indices and
//! geometry) and [`RingLayout`] (array offsets and sizes, computed from the
//! entry counts).
//!
//! A ring is one shared mapping, page-aligned, `total_bytes` long:
//!
//! ```text
//!  offset
//!  0x000 +--------------------------------------------------+ RingHeader
//!        | line 0  geometry, written once by the kernel:    |
//!        |   sq_entries sq_mask cq_entries cq_mask          |
//!        |   sqes_offset cqes_offset total_bytes  reserved  |
//!  0x040 | line 1  written by the program:   sq_tail        |
//!  0x080 | line 2  written by the kernel:    sq_head        |
//!        |                                   sq_flags       |
//!        |                                   sq_dropped     |
//!  0x0c0 | line 3  written by the kernel:    cq_tail        |
//!        |                                   cq_overflow    |
//!  0x100 | line 4  written by the program:   cq_head        |
//!        |                                   cq_flags       |
//!  0x140 +--------------------------------------------------+ sqes_offset
//!        | Sqe[sq_entries]      64 bytes each, 64-aligned   |
//!        +--------------------------------------------------+ cqes_offset
//!        | Cqe[cq_entries]      16 bytes each, 16-aligned   |
//!        +--------------------------------------------------+
//!        | zero padding up to a page boundary               |
//!        +--------------------------------------------------+ total_bytes
//! ```
//!
//! Each cache line holds the words one side writes, so the two sides do not
//! false-share: the program's hot stores (`sq_tail`, `cq_head`) never share a
//! line with the kernel's (`sq_head`, `cq_tail`).
#![forbid(unsafe_code)]

use core::mem::{align_of, size_of};
use core::sync::atomic::AtomicU32;

use crate::{Cqe, Errno, Sqe};

/// The ring header, at offset 0 of the mapping.  Every word is an atomic:
/// the other side may store to any of them at any time, so even the
/// "read-only" geometry is never read as a plain `u32`.  Only the kernel's
/// private [`RingLayout`] is trusted on the kernel side.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct RingHeader {
    /// SQ slots, a power of two.  Kernel, once.
    pub sq_entries: AtomicU32,
    /// `sq_entries - 1`.  Kernel, once.
    pub sq_mask: AtomicU32,
    /// CQ slots, a power of two `>= sq_entries`.  Kernel, once.
    pub cq_entries: AtomicU32,
    /// `cq_entries - 1`.  Kernel, once.
    pub cq_mask: AtomicU32,
    /// Byte offset of the SQE array.  Kernel, once.
    pub sqes_offset: AtomicU32,
    /// Byte offset of the CQE array.  Kernel, once.
    pub cqes_offset: AtomicU32,
    /// Length of the mapping in bytes.  Kernel, once.
    pub total_bytes: AtomicU32,
    _reserved0: [AtomicU32; 9],
    /// Next SQ index the program will fill.  Program, Release.
    pub sq_tail: AtomicU32,
    _pad1: [AtomicU32; 15],
    /// Next SQ index the kernel will copy.  Kernel, Release.
    pub sq_head: AtomicU32,
    /// [`crate::SqRingFlags`].  Kernel.
    pub sq_flags: AtomicU32,
    /// How many times the kernel refused a malformed `sq_tail` (one that
    /// claimed more than `sq_entries` pending).  No SQE is read or dropped
    /// then; this count is the program's clue.  Kernel.
    pub sq_dropped: AtomicU32,
    _pad2: [AtomicU32; 13],
    /// Next CQ index the kernel will fill.  Kernel, Release.
    pub cq_tail: AtomicU32,
    /// CQEs waiting in the kernel's overflow list for CQ room; nothing is
    /// lost.  Non-zero exactly when `sq_flags` has `CQ_OVERFLOW`.  Kernel.
    pub cq_overflow: AtomicU32,
    _pad3: [AtomicU32; 14],
    /// Next CQ index the program will read.  Program, Release.
    pub cq_head: AtomicU32,
    /// [`crate::CqRingFlags`].  Program.
    pub cq_flags: AtomicU32,
    _pad4: [AtomicU32; 14],
}

const _: () = {
    use core::mem::offset_of;
    assert!(size_of::<RingHeader>() == 0x140);
    assert!(align_of::<RingHeader>() == 64);
    assert!(offset_of!(RingHeader, sq_entries) == 0x00);
    assert!(offset_of!(RingHeader, sq_mask) == 0x04);
    assert!(offset_of!(RingHeader, cq_entries) == 0x08);
    assert!(offset_of!(RingHeader, cq_mask) == 0x0c);
    assert!(offset_of!(RingHeader, sqes_offset) == 0x10);
    assert!(offset_of!(RingHeader, cqes_offset) == 0x14);
    assert!(offset_of!(RingHeader, total_bytes) == 0x18);
    assert!(offset_of!(RingHeader, sq_tail) == 0x40);
    assert!(offset_of!(RingHeader, sq_head) == 0x80);
    assert!(offset_of!(RingHeader, sq_flags) == 0x84);
    assert!(offset_of!(RingHeader, sq_dropped) == 0x88);
    assert!(offset_of!(RingHeader, cq_tail) == 0xc0);
    assert!(offset_of!(RingHeader, cq_overflow) == 0xc4);
    assert!(offset_of!(RingHeader, cq_head) == 0x100);
    assert!(offset_of!(RingHeader, cq_flags) == 0x104);
};

/// The geometry of one ring mapping.  Built only by [`RingLayout::new`], so
/// every value is checked: entry counts are powers of two in range and all
/// offsets lie inside `total_bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RingLayout {
    sq_entries: u32,
    cq_entries: u32,
    sqes_offset: u32,
    cqes_offset: u32,
    total_bytes: u32,
}

/// Rounds `value` up to `align` (a power of two); `None` on overflow.
fn align_up(value: u32, align: u32) -> Option<u32> {
    Some(value.checked_add(align - 1)? & !(align - 1))
}

impl RingLayout {
    /// Most SQ slots a ring may have.
    pub const MAX_SQ_ENTRIES: u32 = 4096;
    /// Most CQ slots a ring may have.
    pub const MAX_CQ_ENTRIES: u32 = 2 * Self::MAX_SQ_ENTRIES;
    /// The mapping is a whole number of these.
    pub const PAGE_BYTES: u32 = 4096;

    /// Checks the entry counts and computes the layout.  `EINVAL` unless
    /// both are powers of two, `1 <= sq_entries <= MAX_SQ_ENTRIES` and
    /// `sq_entries <= cq_entries <= MAX_CQ_ENTRIES`.
    pub fn new(sq_entries: u32, cq_entries: u32) -> Result<Self, Errno> {
        let sq_ok = sq_entries.is_power_of_two() && sq_entries <= Self::MAX_SQ_ENTRIES;
        let cq_ok = cq_entries.is_power_of_two() && cq_entries <= Self::MAX_CQ_ENTRIES;
        if !sq_ok || !cq_ok || cq_entries < sq_entries {
            return Err(Errno::EINVAL);
        }
        Self::compute(sq_entries, cq_entries).ok_or(Errno::EINVAL)
    }

    /// A layout with the default CQ size, twice the SQ's.
    pub fn with_sq_entries(sq_entries: u32) -> Result<Self, Errno> {
        Self::new(sq_entries, sq_entries.checked_mul(2).ok_or(Errno::EINVAL)?)
    }

    fn compute(sq_entries: u32, cq_entries: u32) -> Option<Self> {
        let header_bytes = size_of::<RingHeader>() as u32;
        let sqes_offset = align_up(header_bytes, 64)?;
        let sqes_bytes = sq_entries.checked_mul(Sqe::SIZE as u32)?;
        let cqes_offset = align_up(sqes_offset.checked_add(sqes_bytes)?, 16)?;
        let cqes_bytes = cq_entries.checked_mul(Cqe::SIZE as u32)?;
        let end = cqes_offset.checked_add(cqes_bytes)?;
        let total_bytes = align_up(end, Self::PAGE_BYTES)?;
        Some(RingLayout {
            sq_entries,
            cq_entries,
            sqes_offset,
            cqes_offset,
            total_bytes,
        })
    }

    /// SQ slots.
    pub const fn sq_entries(&self) -> u32 {
        self.sq_entries
    }

    /// Mask from a free-running SQ index to a slot.
    pub const fn sq_mask(&self) -> u32 {
        self.sq_entries - 1
    }

    /// CQ slots.
    pub const fn cq_entries(&self) -> u32 {
        self.cq_entries
    }

    /// Mask from a free-running CQ index to a slot.
    pub const fn cq_mask(&self) -> u32 {
        self.cq_entries - 1
    }

    /// Byte offset of the SQE array from the mapping's base.
    pub const fn sqes_offset(&self) -> usize {
        self.sqes_offset as usize
    }

    /// Byte offset of the CQE array from the mapping's base.
    pub const fn cqes_offset(&self) -> usize {
        self.cqes_offset as usize
    }

    /// Length of the whole mapping in bytes, a multiple of 4096.
    pub const fn total_bytes(&self) -> usize {
        self.total_bytes as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_for_several_sizes() {
        // (sq, cq, cqes_offset, total_bytes)
        let cases = [
            (1, 1, 0x140 + 64, 4096),
            (1, 2, 0x180, 4096),
            (8, 16, 0x140 + 8 * 64, 4096),
            (32, 64, 0x140 + 32 * 64, 4096),
            (64, 128, 0x140 + 64 * 64, 8192),
            (4096, 8192, 0x140 + 4096 * 64, 0x61000),
        ];
        for (sq, cq, cqes_offset, total) in cases {
            let layout = RingLayout::new(sq, cq).unwrap();
            assert_eq!(layout.sq_entries(), sq);
            assert_eq!(layout.sq_mask(), sq - 1);
            assert_eq!(layout.cq_mask(), cq - 1);
            assert_eq!(layout.sqes_offset(), 0x140);
            assert_eq!(layout.cqes_offset(), cqes_offset, "sq={sq} cq={cq}");
            assert_eq!(layout.total_bytes(), total, "sq={sq} cq={cq}");
            assert_eq!(layout.sqes_offset() % 64, 0);
            assert_eq!(layout.cqes_offset() % 16, 0);
            assert_eq!(layout.total_bytes() % 4096, 0);
            assert!(layout.cqes_offset() >= layout.sqes_offset() + sq as usize * 64);
            assert!(layout.total_bytes() >= layout.cqes_offset() + cq as usize * 16);
        }
        assert_eq!(RingLayout::with_sq_entries(32), RingLayout::new(32, 64));
    }

    #[test]
    fn bad_entry_counts_are_refused() {
        let bad = [
            (0, 0),
            (0, 2),
            (3, 8),
            (8, 12),
            (8, 4),
            (8192, 8192),
            (4096, 16384),
            (u32::MAX, u32::MAX),
            (1 << 31, 1 << 31),
        ];
        for (sq, cq) in bad {
            assert_eq!(
                RingLayout::new(sq, cq),
                Err(Errno::EINVAL),
                "sq={sq} cq={cq}"
            );
        }
        assert_eq!(RingLayout::with_sq_entries(0), Err(Errno::EINVAL));
        assert_eq!(RingLayout::with_sq_entries(1 << 31), Err(Errno::EINVAL));
        assert_eq!(RingLayout::with_sq_entries(u32::MAX), Err(Errno::EINVAL));
    }

    #[test]
    fn arithmetic_is_checked_not_wrapped() {
        assert_eq!(align_up(u32::MAX, 4096), None);
        assert_eq!(align_up(u32::MAX - 4094, 4096), None);
        assert_eq!(align_up(4097, 4096), Some(8192));
        // Counts past the ABI's limits still compute without panicking.
        assert_eq!(RingLayout::compute(1 << 31, 1 << 31), None);
        assert!(RingLayout::compute(1 << 20, 1 << 20).is_some());
    }
}
