//! The buddy allocator for physical frames.
//!
//! [`BuddyAllocator`] hands out blocks of `2^order` frames (4 KiB to 4 MiB)
//! aligned to their size. It owns the [`PageInfo`] array (`super::page_info`)
//! and threads one doubly linked free list per order through it, so it needs
//! no memory of its own and can unlink any block in O(1) when that block's
//! buddy is freed. Boot code feeds it the free ranges left in
//! `crate::boot::memmap::BootFrames`.
//!
//! ```text
//!  pfn:        0   1   2   3   4   5   6   7   8
//!             [ order 2, FREE ][o1 ALLOC][ o1 FREE ][RESERVED ...
//!               |                          |
//!  free_heads[2] ---> 0         free_heads[1] ---> 6
//!
//!  buddy of the block at pfn p with order k:  p XOR 2^k
//!  freeing the block at 4 (order 1): its buddy 6 is a free order-1 block,
//!  so they merge into the order-2 block at 4; that one's buddy, 0, is a
//!  free order-2 block, so they merge into the order-3 block at 0.
//! ```
//!
//! Two free buddies of the same order never coexist: they are always merged.
//! A `RESERVED` frame is never part of a block, so no merge crosses a hole.
#![forbid(unsafe_code)]

use core::fmt;

use crate::mm::frame::page_info::{NO_PFN, PageFlags, PageInfo};

/// The largest block order: blocks of 2^0 .. 2^10 frames (4 KiB .. 4 MiB).
pub const MAX_ORDER: usize = 10;

/// The number of distinct orders, and of free lists.
const ORDER_COUNT: usize = MAX_ORDER + 1;

/// Why [`BuddyAllocator::free`] refused a block. The allocator is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The block does not lie inside the frame array.
    OutOfRange,
    /// The frame number is not a multiple of the block size.
    Misaligned,
    /// The frame does not head an allocated block: a double free, or a frame
    /// that was never allocated (free, reserved, or inside a block).
    NotAllocated,
    /// The order is above [`MAX_ORDER`] or not the one the block was
    /// allocated with.
    WrongOrder,
}

/// A buddy allocator over the frames `0..pages.len()`.
pub struct BuddyAllocator {
    pages: &'static mut [PageInfo],
    /// Head of the free list of each order; [`NO_PFN`] if empty.
    free_heads: [u32; ORDER_COUNT],
    free_block_counts: [usize; ORDER_COUNT],
    free_frames: usize,
    managed_frames: usize,
}

// The allocator lives behind a lock in a static; it must be able to move
// between CPUs.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<BuddyAllocator>();
};

/// The number of frames in a block of `order`.
const fn frames_in(order: usize) -> usize {
    1 << order
}

impl BuddyAllocator {
    /// An allocator with nothing to allocate yet, over the frames
    /// `0..pages.len()`. Every entry is reset to reserved; hand RAM over with
    /// [`Self::add_free_range`].
    ///
    /// Frame numbers are stored as `u32`, so frames from `u32::MAX` (16 TiB)
    /// upwards are ignored.
    pub fn new(pages: &'static mut [PageInfo]) -> Self {
        let linkable_frames = pages.len().min(NO_PFN as usize);
        let pages = &mut pages[..linkable_frames];
        for page in pages.iter_mut() {
            *page = PageInfo::new_reserved();
        }
        Self {
            pages,
            free_heads: [NO_PFN; ORDER_COUNT],
            free_block_counts: [0; ORDER_COUNT],
            free_frames: 0,
            managed_frames: 0,
        }
    }

    /// Hands the frames `[start_pfn, end_pfn)` to the allocator, as the
    /// largest aligned blocks they hold, each merged with free buddies.
    ///
    /// The range is clamped to the array. Frames already managed (free or
    /// allocated) are skipped, so adding a range twice changes nothing.
    pub fn add_free_range(&mut self, start_pfn: usize, end_pfn: usize) {
        let end_pfn = end_pfn.min(self.pages.len());
        let mut pfn = start_pfn;
        while pfn < end_pfn {
            if !self.pages[pfn].is_reserved() {
                pfn += 1;
                continue;
            }
            let run_end = (pfn..end_pfn)
                .find(|&other| !self.pages[other].is_reserved())
                .unwrap_or(end_pfn);
            while pfn < run_end {
                let order = largest_order_at(pfn, run_end - pfn);
                let block_frames = frames_in(order);
                for page in &mut self.pages[pfn..pfn + block_frames] {
                    page.set_flags(PageFlags::empty());
                }
                self.managed_frames += block_frames;
                self.release(pfn, order);
                pfn += block_frames;
            }
        }
    }

    /// Allocates a block of `2^order` frames, aligned to its size, and returns
    /// its first frame number. `None` if `order > MAX_ORDER` or no block is
    /// left. O(`MAX_ORDER`).
    pub fn alloc(&mut self, order: usize) -> Option<usize> {
        if order > MAX_ORDER {
            return None;
        }
        let block_order = (order..ORDER_COUNT).find(|&k| self.free_heads[k] != NO_PFN)?;
        let pfn = self.free_heads[block_order] as usize;
        self.take_block(pfn, block_order, order);
        Some(pfn)
    }

    /// Like [`Self::alloc`], but the whole block lies below `limit_pfn`, for
    /// memory a device or the boot page tables can reach. Walks the free
    /// lists: O(free blocks).
    pub fn alloc_below(&mut self, order: usize, limit_pfn: usize) -> Option<usize> {
        if order > MAX_ORDER {
            return None;
        }
        // The lowest part of a free block is what a split hands out, so a
        // block fits if its start does; smaller blocks first, to split less.
        for block_order in order..ORDER_COUNT {
            let mut cursor = self.free_heads[block_order];
            while cursor != NO_PFN {
                let pfn = cursor as usize;
                if pfn + frames_in(order) <= limit_pfn {
                    self.take_block(pfn, block_order, order);
                    return Some(pfn);
                }
                cursor = self.pages[pfn].next_free_pfn();
            }
        }
        None
    }

    /// Returns the block at `pfn`, allocated with `order`, merging it with
    /// its free buddies. A request that does not name an allocated block is
    /// refused and changes nothing.
    ///
    /// # Errors
    ///
    /// The [`FreeError`] naming the first check that failed: the block must
    /// lie in the array, `order` must be at most [`MAX_ORDER`], `pfn` must be
    /// aligned to the block size, and `pfn` must head an allocated block of
    /// exactly `order`.
    pub fn free(&mut self, pfn: usize, order: usize) -> Result<(), FreeError> {
        if pfn >= self.pages.len() {
            return Err(FreeError::OutOfRange);
        }
        if order > MAX_ORDER {
            return Err(FreeError::WrongOrder);
        }
        if !pfn.is_multiple_of(frames_in(order)) {
            return Err(FreeError::Misaligned);
        }
        if pfn + frames_in(order) > self.pages.len() {
            return Err(FreeError::OutOfRange);
        }
        let page = &self.pages[pfn];
        if !page.is_allocated_head() {
            return Err(FreeError::NotAllocated);
        }
        if page.order() != order {
            return Err(FreeError::WrongOrder);
        }
        self.release(pfn, order);
        Ok(())
    }

    /// The number of free frames.
    pub fn free_frames(&self) -> usize {
        self.free_frames
    }

    /// The number of frames handed to the allocator, free or allocated.
    pub fn managed_frames(&self) -> usize {
        self.managed_frames
    }

    /// The number of free blocks of `order`; 0 for orders above [`MAX_ORDER`].
    pub fn free_blocks(&self, order: usize) -> usize {
        self.free_block_counts.get(order).copied().unwrap_or(0)
    }

    /// The metadata of frame `pfn`, if the array covers it.
    pub fn page(&self, pfn: usize) -> Option<&PageInfo> {
        self.pages.get(pfn)
    }

    /// Removes the free block at `pfn` of `block_order` from its list, splits
    /// off upper halves until `order` remains, and marks that allocated.
    fn take_block(&mut self, pfn: usize, block_order: usize, order: usize) {
        self.unlink(pfn, block_order);
        for half_order in (order..block_order).rev() {
            self.push_free(pfn + frames_in(half_order), half_order);
        }
        let head = &mut self.pages[pfn];
        head.set_flags(PageFlags::ALLOCATED);
        head.set_order(order);
        self.free_frames -= frames_in(order);
    }

    /// Makes the block at `pfn` of `order` free (its frames are managed and
    /// in no free list), merging it with free buddies as far as possible.
    fn release(&mut self, mut pfn: usize, mut order: usize) {
        self.free_frames += frames_in(order);
        self.pages[pfn].set_flags(PageFlags::empty());
        while order < MAX_ORDER {
            let buddy = pfn ^ frames_in(order);
            let buddy_is_free = self
                .pages
                .get(buddy)
                .is_some_and(|page| page.is_free_head() && page.order() == order);
            if !buddy_is_free {
                break;
            }
            self.unlink(buddy, order);
            pfn = pfn.min(buddy);
            order += 1;
        }
        self.push_free(pfn, order);
    }

    /// Puts `pfn` at the front of the free list of `order`, as a free head.
    fn push_free(&mut self, pfn: usize, order: usize) {
        let old_head = self.free_heads[order];
        let link = pfn as u32;
        if old_head != NO_PFN {
            self.pages[old_head as usize].set_prev_free_pfn(link);
        }
        let page = &mut self.pages[pfn];
        page.set_flags(PageFlags::FREE);
        page.set_order(order);
        page.set_free_links(NO_PFN, old_head);
        self.free_heads[order] = link;
        self.free_block_counts[order] += 1;
    }

    /// Takes the free head `pfn` out of the free list of `order`; it becomes
    /// an ordinary managed frame.
    fn unlink(&mut self, pfn: usize, order: usize) {
        let page = &mut self.pages[pfn];
        let (prev, next) = (page.prev_free_pfn(), page.next_free_pfn());
        page.set_free_links(NO_PFN, NO_PFN);
        page.set_flags(PageFlags::empty());
        if prev == NO_PFN {
            self.free_heads[order] = next;
        } else {
            self.pages[prev as usize].set_next_free_pfn(next);
        }
        if next != NO_PFN {
            self.pages[next as usize].set_prev_free_pfn(prev);
        }
        self.free_block_counts[order] -= 1;
    }
}

impl fmt::Debug for BuddyAllocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuddyAllocator")
            .field("frames", &self.pages.len())
            .field("managed_frames", &self.managed_frames)
            .field("free_frames", &self.free_frames)
            .field("free_block_counts", &self.free_block_counts)
            .finish()
    }
}

/// The largest order of a block that can start at `pfn` (aligned to its
/// size) and fit in `max_frames` (at least 1) frames.
fn largest_order_at(pfn: usize, max_frames: usize) -> usize {
    let alignment_order = if pfn == 0 {
        MAX_ORDER
    } else {
        pfn.trailing_zeros() as usize
    };
    let size_order = max_frames.ilog2() as usize;
    alignment_order.min(size_order).min(MAX_ORDER)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh allocator over `frames` frames, none of them managed yet.
    fn allocator(frames: usize) -> BuddyAllocator {
        let pages: Vec<PageInfo> = (0..frames).map(|_| PageInfo::new_reserved()).collect();
        BuddyAllocator::new(Box::leak(pages.into_boxed_slice()))
    }

    fn counts(allocator: &BuddyAllocator) -> [usize; ORDER_COUNT] {
        core::array::from_fn(|order| allocator.free_blocks(order))
    }

    /// Everything `free` could touch, to prove a refused call touched nothing.
    #[derive(Debug, PartialEq)]
    struct Snapshot {
        pages: Vec<(PageFlags, usize, u32, u32)>,
        free_heads: [u32; ORDER_COUNT],
        free_block_counts: [usize; ORDER_COUNT],
        free_frames: usize,
        managed_frames: usize,
    }

    fn snapshot(allocator: &BuddyAllocator) -> Snapshot {
        Snapshot {
            pages: allocator
                .pages
                .iter()
                .map(|page| {
                    (
                        page.flags(),
                        page.order(),
                        page.prev_free_pfn(),
                        page.next_free_pfn(),
                    )
                })
                .collect(),
            free_heads: allocator.free_heads,
            free_block_counts: allocator.free_block_counts,
            free_frames: allocator.free_frames,
            managed_frames: allocator.managed_frames,
        }
    }

    /// Checks every structural invariant: list links, flags, counts, no
    /// overlapping free blocks, no free block containing an unmanaged frame,
    /// and no two free buddies of the same order.
    fn assert_consistent(allocator: &BuddyAllocator) {
        let pages = &*allocator.pages;
        let mut in_free_block = vec![false; pages.len()];
        let mut free_frames = 0;
        for order in 0..ORDER_COUNT {
            let mut blocks = 0;
            let mut prev = NO_PFN;
            let mut cursor = allocator.free_heads[order];
            while cursor != NO_PFN {
                let pfn = cursor as usize;
                let head = &pages[pfn];
                assert_eq!(head.prev_free_pfn(), prev, "back link of {pfn}");
                assert_eq!(head.flags(), PageFlags::FREE, "flags of free head {pfn}");
                assert_eq!(head.order(), order, "order of free head {pfn}");
                assert!(pfn.is_multiple_of(frames_in(order)), "alignment of {pfn}");
                for frame in pfn..pfn + frames_in(order) {
                    assert!(!in_free_block[frame], "frame {frame} in two free blocks");
                    in_free_block[frame] = true;
                    if frame != pfn {
                        assert_eq!(
                            pages[frame].flags(),
                            PageFlags::empty(),
                            "frame {frame} inside {pfn}"
                        );
                    }
                }
                if order < MAX_ORDER {
                    let buddy = pages.get(pfn ^ frames_in(order));
                    assert!(
                        !buddy.is_some_and(|b| b.is_free_head() && b.order() == order),
                        "free buddies at {pfn} order {order} not merged"
                    );
                }
                blocks += 1;
                free_frames += frames_in(order);
                prev = cursor;
                cursor = head.next_free_pfn();
            }
            assert_eq!(
                blocks, allocator.free_block_counts[order],
                "block count of order {order}"
            );
        }
        for (pfn, page) in pages.iter().enumerate() {
            if page.is_free_head() {
                assert!(in_free_block[pfn], "free head {pfn} missing from its list");
            }
        }
        assert_eq!(free_frames, allocator.free_frames());
        let managed = pages.iter().filter(|page| !page.is_reserved()).count();
        assert_eq!(managed, allocator.managed_frames());
    }

    /// A small linear congruential generator, for reproducible sequences.
    struct Lcg(u64);

    impl Lcg {
        fn next_below(&mut self, bound: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) % bound as u64) as usize
        }
    }

    #[test]
    fn unaligned_range_becomes_the_largest_aligned_blocks() {
        let mut allocator = allocator(64);
        allocator.add_free_range(3, 37);
        // 3 | 4..8 | 8..16 | 16..32 | 32..36 | 36
        assert_eq!(counts(&allocator), [2, 0, 2, 1, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(allocator.free_frames(), 34);
        assert_eq!(allocator.managed_frames(), 34);
        for (pfn, order) in [(3, 0), (4, 2), (8, 3), (16, 4), (32, 2), (36, 0)] {
            let page = allocator.page(pfn).unwrap();
            assert!(
                page.is_free_head() && page.order() == order,
                "block at {pfn}"
            );
        }
        assert!(allocator.page(2).unwrap().is_reserved());
        assert!(allocator.page(37).unwrap().is_reserved());
        assert_consistent(&allocator);
    }

    #[test]
    fn large_range_is_capped_at_max_order() {
        let mut allocator = allocator(3000);
        allocator.add_free_range(0, 3000);
        // 2 x 1024 + 512 + 256 + 128 + 32 + 16 + 8 = 3000
        assert_eq!(counts(&allocator), [0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 2]);
        assert_eq!(allocator.free_frames(), 3000);
        assert_consistent(&allocator);
    }

    #[test]
    fn adjacent_ranges_added_separately_merge() {
        let mut allocator = allocator(16);
        allocator.add_free_range(0, 3);
        allocator.add_free_range(3, 8);
        assert_eq!(counts(&allocator)[..4], [0, 0, 0, 1]);
        allocator.add_free_range(8, 16);
        assert_eq!(counts(&allocator)[..5], [0, 0, 0, 0, 1]);
        assert_consistent(&allocator);
    }

    #[test]
    fn adding_managed_frames_again_changes_nothing() {
        let mut allocator = allocator(64);
        allocator.add_free_range(0, 32);
        let held = allocator.alloc(3).unwrap();
        let before = snapshot(&allocator);
        allocator.add_free_range(0, 32);
        assert_eq!(snapshot(&allocator), before);
        // Overlapping on both sides: only 32..40 and 44..48 are new.
        allocator.add_free_range(40, 44);
        allocator.add_free_range(20, 48);
        assert_eq!(allocator.managed_frames(), 48);
        assert!(allocator.page(held).unwrap().is_allocated_head());
        allocator.free(held, 3).unwrap();
        // 0..32 and 32..48, each frame in exactly one block.
        assert_eq!(counts(&allocator)[..6], [0, 0, 0, 0, 1, 1]);
        assert_eq!(allocator.free_frames(), 48);
        assert_consistent(&allocator);
    }

    #[test]
    fn add_free_range_is_clamped_to_the_array() {
        let mut allocator = allocator(10);
        allocator.add_free_range(8, 1000);
        allocator.add_free_range(500, 1000);
        allocator.add_free_range(6, 2);
        assert_eq!(allocator.managed_frames(), 2);
        assert_eq!(counts(&allocator)[..2], [0, 1]);
        assert_consistent(&allocator);
    }

    #[test]
    fn alloc_returns_blocks_aligned_to_every_order() {
        let mut allocator = allocator(4096);
        // Start at an odd frame so that alignment has to come from splitting.
        allocator.add_free_range(1, 4096);
        for order in (0..=MAX_ORDER).rev() {
            let pfn = allocator.alloc(order).unwrap();
            assert!(
                pfn.is_multiple_of(frames_in(order)),
                "order {order} at {pfn}"
            );
            let head = allocator.page(pfn).unwrap();
            assert!(head.is_allocated_head() && head.order() == order);
        }
        assert_consistent(&allocator);
    }

    #[test]
    fn alloc_splits_and_free_merges_back() {
        let mut allocator = allocator(1024);
        allocator.add_free_range(0, 1024);
        let pfn = allocator.alloc(0).unwrap();
        assert_eq!(pfn, 0);
        // One block of each order 0..10 is left over from the splits.
        assert_eq!(counts(&allocator), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
        assert_eq!(allocator.free_frames(), 1023);
        assert_consistent(&allocator);
        allocator.free(pfn, 0).unwrap();
        assert_eq!(counts(&allocator), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(allocator.free_frames(), 1024);
        assert_consistent(&allocator);
    }

    #[test]
    fn alloc_fails_above_max_order_and_when_exhausted() {
        let mut allocator = allocator(64);
        allocator.add_free_range(0, 6);
        assert_eq!(allocator.alloc(MAX_ORDER + 1), None);
        assert_eq!(allocator.alloc(3), None, "no 8-frame block in 6 frames");
        assert_eq!(allocator.alloc(2), Some(0));
        assert_eq!(allocator.alloc(2), None);
        assert_eq!(allocator.alloc(1), Some(4));
        assert_eq!(allocator.alloc(0), None);
        assert_eq!(allocator.free_frames(), 0);
        assert_consistent(&allocator);
    }

    #[test]
    fn allocating_every_frame_then_freeing_all_restores_the_initial_blocks() {
        let mut allocator = allocator(3000);
        allocator.add_free_range(5, 2990);
        let initial = counts(&allocator);
        let frames = allocator.free_frames();

        let mut held: Vec<usize> = core::iter::from_fn(|| allocator.alloc(0)).collect();
        assert_eq!(held.len(), frames);
        assert_eq!(allocator.free_frames(), 0);
        assert_eq!(counts(&allocator), [0; ORDER_COUNT]);
        held.sort_unstable();
        held.dedup();
        assert_eq!(
            held,
            (5..2990).collect::<Vec<_>>(),
            "each frame exactly once"
        );

        // Free in a scrambled order so merges happen in every direction.
        let mut rng = Lcg(7);
        for index in (1..held.len()).rev() {
            held.swap(index, rng.next_below(index + 1));
        }
        for pfn in held {
            allocator.free(pfn, 0).unwrap();
        }
        assert_eq!(counts(&allocator), initial);
        assert_eq!(allocator.free_frames(), frames);
        assert_consistent(&allocator);
    }

    #[test]
    fn holes_are_never_handed_out_or_merged_across() {
        let mut allocator = allocator(64);
        allocator.add_free_range(0, 10);
        allocator.add_free_range(11, 64);
        let initial = counts(&allocator);
        // 0..8 | 8..10 | hole | 11 | 12..16 | 16..32 | 32..64
        assert_eq!(initial[..6], [1, 1, 1, 1, 1, 1]);

        let held: Vec<usize> = core::iter::from_fn(|| allocator.alloc(0)).collect();
        assert_eq!(held.len(), 63);
        assert!(!held.contains(&10));
        for &pfn in &held {
            allocator.free(pfn, 0).unwrap();
        }
        assert_eq!(counts(&allocator), initial);
        assert!(allocator.page(10).unwrap().is_reserved());
        assert_eq!(allocator.alloc(6), None, "the hole splits the 64 frames");
        assert_consistent(&allocator);
    }

    #[test]
    fn alloc_below_respects_the_limit() {
        let mut allocator = allocator(2048);
        allocator.add_free_range(0, 2048);
        assert_eq!(allocator.alloc_below(9, 512), Some(0));

        // Free: 512..1024 (order 9) and 1024..2048 (order 10).
        assert_eq!(allocator.alloc_below(9, 1023), None);
        assert_eq!(allocator.alloc_below(10, 2047), None);
        assert_eq!(
            allocator.alloc_below(0, 512),
            None,
            "frames below 512 are taken"
        );
        let pfn = allocator.alloc_below(2, 600).unwrap();
        assert!(pfn + 4 <= 600, "block at {pfn}");
        let pfn = allocator.alloc_below(3, 1100).unwrap();
        assert!(pfn + 8 <= 1100, "block at {pfn}");
        assert_eq!(allocator.alloc_below(MAX_ORDER + 1, usize::MAX), None);
        assert_consistent(&allocator);
    }

    #[test]
    fn alloc_below_exhausts_low_memory_then_fails() {
        let mut allocator = allocator(256);
        allocator.add_free_range(0, 256);
        let low: Vec<usize> = core::iter::from_fn(|| allocator.alloc_below(0, 16)).collect();
        assert_eq!(low.len(), 16);
        assert!(low.iter().all(|&pfn| pfn < 16));
        assert_eq!(allocator.free_frames(), 240, "nothing above 16 was taken");
        assert!(allocator.alloc(0).is_some_and(|pfn| pfn >= 16));
        assert_consistent(&allocator);
    }

    #[test]
    fn refused_frees_report_why_and_change_nothing() {
        let mut allocator = allocator(100);
        allocator.add_free_range(0, 50);
        allocator.add_free_range(51, 100);
        let block = allocator.alloc_below(2, 8).unwrap();
        assert_eq!(block, 0);
        let single = allocator.alloc(0).unwrap();
        assert_eq!(single, 51, "the only order-0 block");
        let freed = allocator.alloc(0).unwrap();
        allocator.free(freed, 0).unwrap();
        let free_head = allocator
            .pages
            .iter()
            .position(PageInfo::is_free_head)
            .unwrap();
        let before = snapshot(&allocator);

        let cases = [
            (100, 0, FreeError::OutOfRange),
            (usize::MAX, 0, FreeError::OutOfRange),
            (96, 3, FreeError::OutOfRange),
            (block, MAX_ORDER + 1, FreeError::WrongOrder),
            (block + 1, 1, FreeError::Misaligned),
            (single | 1, 1, FreeError::Misaligned),
            (block + 1, 0, FreeError::NotAllocated),
            (freed, 0, FreeError::NotAllocated),
            (free_head, 0, FreeError::NotAllocated),
            (50, 0, FreeError::NotAllocated),
            (block, 1, FreeError::WrongOrder),
            (block, 3, FreeError::WrongOrder),
        ];
        for (pfn, order, error) in cases {
            assert_eq!(
                allocator.free(pfn, order),
                Err(error),
                "free({pfn}, {order})"
            );
            assert_eq!(
                snapshot(&allocator),
                before,
                "free({pfn}, {order}) changed state"
            );
        }

        allocator.free(block, 2).unwrap();
        assert_eq!(
            allocator.free(block, 2),
            Err(FreeError::NotAllocated),
            "double free"
        );
        allocator.free(single, 0).unwrap();
        assert_eq!(allocator.free_frames(), 99);
        assert_consistent(&allocator);
    }

    #[test]
    fn frames_beyond_the_array_are_not_counted() {
        let allocator = allocator(8);
        assert!(allocator.page(7).is_some());
        assert!(allocator.page(8).is_none());
        assert_eq!(allocator.free_blocks(MAX_ORDER + 1), 0);
        assert_eq!(
            (allocator.free_frames(), allocator.managed_frames()),
            (0, 0)
        );
    }

    #[test]
    fn new_resets_a_used_array() {
        let pages: Vec<PageInfo> = (0..16).map(|_| PageInfo::new_reserved()).collect();
        let pages = Box::leak(pages.into_boxed_slice());
        pages[3].set_flags(PageFlags::FREE);
        pages[3].set_free_links(1, 2);
        let allocator = BuddyAllocator::new(pages);
        assert!(
            allocator
                .pages
                .iter()
                .all(|page| page.flags() == PageFlags::RESERVED)
        );
        assert_eq!(allocator.page(3).unwrap().next_free_pfn(), NO_PFN);
        assert_consistent(&allocator);
    }

    #[test]
    fn random_alloc_and_free_agree_with_a_model() {
        #[derive(Clone, Copy, PartialEq, Debug)]
        enum Frame {
            Hole,
            Free,
            Held,
        }
        const FRAMES: usize = 2100;
        let mut allocator = allocator(FRAMES);
        let mut model = [Frame::Hole; FRAMES];
        for (start, end) in [(1, 700), (705, 2000), (2003, 2100)] {
            allocator.add_free_range(start, end);
            model[start..end].fill(Frame::Free);
        }
        let initial = counts(&allocator);
        let fits = |model: &[Frame], order: usize, limit: usize| {
            (0..FRAMES)
                .step_by(frames_in(order))
                .filter(|pfn| pfn + frames_in(order) <= limit.min(FRAMES))
                .any(|pfn| {
                    model[pfn..pfn + frames_in(order)]
                        .iter()
                        .all(|&f| f == Frame::Free)
                })
        };

        let mut rng = Lcg(0xb0dd);
        let mut held: Vec<(usize, usize)> = Vec::new();
        let (mut allocations, mut failures) = (0, 0);
        for step in 0..20_000_usize {
            let roll = rng.next_below(100);
            if roll < 55 || held.is_empty() {
                let order = [0, 0, 0, 1, 1, 2, 3, 4, 6, 8][rng.next_below(10)];
                let limit = if roll.is_multiple_of(4) {
                    rng.next_below(FRAMES + 1)
                } else {
                    usize::MAX
                };
                let result = if limit == usize::MAX {
                    allocator.alloc(order)
                } else {
                    allocator.alloc_below(order, limit)
                };
                match result {
                    Some(pfn) => {
                        assert!(pfn.is_multiple_of(frames_in(order)));
                        assert!(pfn + frames_in(order) <= limit.min(FRAMES));
                        for frame in &mut model[pfn..pfn + frames_in(order)] {
                            assert_eq!(*frame, Frame::Free, "step {step}: block at {pfn} overlaps");
                            *frame = Frame::Held;
                        }
                        held.push((pfn, order));
                        allocations += 1;
                    }
                    // Full merging means a failure is only allowed when no
                    // aligned, wholly free block of the order exists.
                    None => {
                        assert!(
                            !fits(&model, order, limit),
                            "step {step}: order {order} below {limit}"
                        );
                        failures += 1;
                    }
                }
            } else if roll < 95 {
                let (pfn, order) = held.swap_remove(rng.next_below(held.len()));
                allocator.free(pfn, order).unwrap();
                model[pfn..pfn + frames_in(order)].fill(Frame::Free);
            } else {
                // A bogus free: a block just freed again, or with the wrong order.
                let (pfn, order) = held[rng.next_below(held.len())];
                let before = snapshot(&allocator);
                let wrong_order = if order == 0 { 1 } else { order - 1 };
                assert!(allocator.free(pfn, wrong_order).is_err());
                assert_eq!(snapshot(&allocator), before);
            }
            let model_free = model.iter().filter(|&&frame| frame == Frame::Free).count();
            assert_eq!(allocator.free_frames(), model_free, "step {step}");
            if step.is_multiple_of(97) {
                assert_consistent(&allocator);
            }
        }
        assert!(
            allocations > 1000 && failures > 100,
            "{allocations} / {failures}"
        );

        for (pfn, order) in held {
            allocator.free(pfn, order).unwrap();
        }
        assert_eq!(counts(&allocator), initial);
        assert_consistent(&allocator);
    }
}
