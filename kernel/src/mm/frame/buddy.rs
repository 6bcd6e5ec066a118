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
    /// The frame still has other owners (it is shared): they must drop it
    /// first (`global::release` does that).
    Shared,
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
    /// Frees a single allocated frame, unless it is pinned: then it is
    /// flagged [`PageFlags::FREE_ON_UNPIN`] and [`BuddyAllocator::unpin`]
    /// frees it when its last pin goes.  Returns whether it was freed now.
    pub fn free_unless_pinned(&mut self, pfn: usize) -> Result<bool, FreeError> {
        let pinned = self.pages.get(pfn).is_some_and(|page| page.pin_count() > 0);
        if !pinned {
            return self.free(pfn, 0).map(|()| true);
        }
        let page = &mut self.pages[pfn];
        if !page.is_allocated_head() || page.order() != 0 {
            return Err(FreeError::NotAllocated);
        }
        let flags = page.flags() | PageFlags::FREE_ON_UNPIN;
        page.set_flags(flags);
        Ok(false)
    }

    /// Drops one owner of the single frame `pfn`: a shared frame loses an
    /// owner, the last owner frees it ([`Self::free_unless_pinned`]).
    /// Returns whether it was freed now.
    pub fn release_owner(&mut self, pfn: usize) -> Result<bool, FreeError> {
        let page = self.pages.get(pfn).ok_or(FreeError::OutOfRange)?;
        if !page.is_allocated_head() || page.order() != 0 {
            return Err(FreeError::NotAllocated);
        }
        match page.unshare() {
            Some(_) => Ok(false),
            None => self.free_unless_pinned(pfn),
        }
    }

    /// Drops a pin of frame `pfn`; frees the frame if that was its last pin
    /// and its owner freed it meanwhile.  `None` if it was not pinned.
    pub fn unpin(&mut self, pfn: usize) -> Option<u32> {
        let count = self.pages.get(pfn)?.unpin()?;
        if count == 0 && self.pages[pfn].flags().contains(PageFlags::FREE_ON_UNPIN) {
            let flags = self.pages[pfn].flags() - PageFlags::FREE_ON_UNPIN;
            self.pages[pfn].set_flags(flags);
            self.release(pfn, 0);
        }
        Some(count)
    }

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
        if page.refcount() != 0 {
            return Err(FreeError::Shared);
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
#[path = "buddy_tests.rs"]
mod tests;
