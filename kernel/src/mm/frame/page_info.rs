//! Per-frame metadata: one [`PageInfo`] for every physical 4 KiB frame.
//!
//! The `PageInfo`s form one array indexed by frame number (`pfn = phys / 4096`).
//! The buddy allocator (`super::buddy`) owns the array and threads its free
//! lists through it; the reference and pin counts are for the users of a frame
//! once it is allocated.
//!
//! ```text
//!  PageInfo (20 bytes, repr(C))
//!  +0  next_free_pfn  u32    free-list links, meaningful only on the head
//!  +4  prev_free_pfn  u32    frame of a free block; NO_PFN ends a list
//!  +8  refcount       AtomicU32
//!  +12 pin_count      AtomicU32
//!  +16 flags          PageFlags (u16)
//!  +18 order          u8     block order, on block heads only
//! ```
//!
//! Which frames carry which flags:
//!
//! ```text
//!  RESERVED   not RAM the allocator manages (firmware, holes, the kernel)
//!  FREE       first frame of a free block of 2^order frames
//!  ALLOCATED  first frame of an allocated block of 2^order frames
//!  (none)     any other frame inside a free or allocated block
//! ```
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU32, Ordering};

bitflags::bitflags! {
    /// The state of one frame; see the module docs for which frames carry
    /// which flag. Bits 4..16 are free for later use.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PageFlags: u16 {
        /// Not managed by the allocator: firmware, MMIO holes, the kernel
        /// image, or RAM not yet handed over.
        const RESERVED = 1 << 0;
        /// Head of a free block in the buddy allocator.
        const FREE = 1 << 1;
        /// Head of an allocated block.
        const ALLOCATED = 1 << 2;
        /// Allocated, freed by its owner while pinned: the last unpin
        /// frees it (a pinned frame is never reused while in use).
        const FREE_ON_UNPIN = 1 << 3;
    }
}

/// The most pins one frame carries at once (PatchworkOS's pin depth): a
/// further pin waits until one goes (`global::pin_waiting`), so no count
/// saturates and one page cannot hold an unbounded number of ops.
pub const MAX_PIN_DEPTH: u32 = 64;

/// The "no frame" value of a free-list link. Frame numbers are stored as
/// `u32`, which covers 16 TiB of physical memory.
pub(super) const NO_PFN: u32 = u32::MAX;

/// The metadata of one physical frame.
///
/// Links, order and flags change only under the allocator's lock (through
/// `&mut`); the counts are atomic because users of an allocated frame update
/// them concurrently through `&`.
#[repr(C)]
#[derive(Debug)]
pub struct PageInfo {
    next_free_pfn: u32,
    prev_free_pfn: u32,
    refcount: AtomicU32,
    pin_count: AtomicU32,
    flags: PageFlags,
    order: u8,
}

// The array costs this much per 4 KiB of RAM; keep it under 0.6 %.
const _: () = assert!(core::mem::size_of::<PageInfo>() <= 24);

impl PageInfo {
    /// The state of a frame the allocator does not manage; what every entry
    /// of the array starts as.
    pub const fn new_reserved() -> Self {
        Self {
            next_free_pfn: NO_PFN,
            prev_free_pfn: NO_PFN,
            refcount: AtomicU32::new(0),
            pin_count: AtomicU32::new(0),
            flags: PageFlags::RESERVED,
            order: 0,
        }
    }

    /// The frame's flags.
    pub fn flags(&self) -> PageFlags {
        self.flags
    }

    /// The order of the block this frame heads; meaningful only on frames
    /// flagged [`PageFlags::FREE`] or [`PageFlags::ALLOCATED`].
    pub fn order(&self) -> usize {
        usize::from(self.order)
    }

    /// Whether the allocator leaves this frame alone.
    pub fn is_reserved(&self) -> bool {
        self.flags.contains(PageFlags::RESERVED)
    }

    /// Whether this frame heads a free block.
    pub fn is_free_head(&self) -> bool {
        self.flags.contains(PageFlags::FREE)
    }

    /// Whether this frame heads an allocated block.
    pub fn is_allocated_head(&self) -> bool {
        self.flags.contains(PageFlags::ALLOCATED)
    }

    /// The number of owners the frame has beyond its first: address
    /// spaces and memory objects that share it (copy-on-write, shared
    /// mappings).  0 for a frame with one owner, as every frame starts.
    ///
    /// Acquire, so that a caller seeing the count it expects (0: it is the
    /// only owner left, and may write the frame in place) also sees the
    /// writes of whoever released the other references.
    pub fn refcount(&self) -> u32 {
        self.refcount.load(Ordering::Acquire)
    }

    /// Adds an owner; `None` (nothing changed) if the count is saturated.
    /// Relaxed: the caller owns the frame already, as with cloning an `Arc`.
    pub fn share(&self) -> Option<u32> {
        self.refcount
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |count| {
                count.checked_add(1)
            })
            .ok()
            .map(|old| old + 1)
    }

    /// Drops an owner beyond the first and returns how many such owners
    /// are left; `None` (nothing changed) when the caller is the last
    /// owner, who frees the frame instead.  Release, paired with the
    /// Acquire of [`Self::refcount`].
    pub fn unshare(&self) -> Option<u32> {
        self.refcount
            .fetch_update(Ordering::Release, Ordering::Relaxed, |count| {
                count.checked_sub(1)
            })
            .ok()
            .map(|old| old - 1)
    }

    /// The number of pins: outstanding users (such as in-flight I/O) that need
    /// the frame to stay where it is.
    ///
    /// Acquire pairs with the Release in [`Self::unpin`]: whoever sees zero
    /// also sees every access made under the pins, and may move or free the
    /// frame.
    pub fn pin_count(&self) -> u32 {
        self.pin_count.load(Ordering::Acquire)
    }

    /// Adds a pin and returns the new count, or `None` (nothing changed) if
    /// the frame already carries [`MAX_PIN_DEPTH`] pins.
    ///
    /// Relaxed suffices: the caller already holds the frame, so the increment
    /// publishes nothing, as with cloning an `Arc`.
    pub fn pin(&self) -> Option<u32> {
        self.pin_count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |count| {
                (count < MAX_PIN_DEPTH).then_some(count + 1)
            })
            .ok()
            .map(|old| old + 1)
    }

    /// Drops a pin and returns the new count, or `None` (nothing changed) if
    /// the frame was not pinned.
    ///
    /// Release, so that the accesses made under the pin happen before anyone
    /// who sees the count fall to zero (see [`Self::pin_count`]).
    pub fn unpin(&self) -> Option<u32> {
        self.pin_count
            .fetch_update(Ordering::Release, Ordering::Relaxed, |count| {
                count.checked_sub(1)
            })
            .ok()
            .map(|old| old - 1)
    }

    pub(super) fn set_flags(&mut self, flags: PageFlags) {
        self.flags = flags;
    }

    /// Records the order of the block this frame heads. Orders are at most
    /// `buddy::MAX_ORDER`, far below `u8::MAX`.
    pub(super) fn set_order(&mut self, order: usize) {
        debug_assert!(u8::try_from(order).is_ok());
        self.order = order as u8;
    }

    pub(super) fn next_free_pfn(&self) -> u32 {
        self.next_free_pfn
    }

    pub(super) fn prev_free_pfn(&self) -> u32 {
        self.prev_free_pfn
    }

    pub(super) fn set_free_links(&mut self, prev_pfn: u32, next_pfn: u32) {
        self.prev_free_pfn = prev_pfn;
        self.next_free_pfn = next_pfn;
    }

    pub(super) fn set_prev_free_pfn(&mut self, pfn: u32) {
        self.prev_free_pfn = pfn;
    }

    pub(super) fn set_next_free_pfn(&mut self, pfn: u32) {
        self.next_free_pfn = pfn;
    }
}

impl Default for PageInfo {
    fn default() -> Self {
        Self::new_reserved()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_info_fits_its_size_budget() {
        assert_eq!(core::mem::size_of::<PageInfo>(), 20);
        assert_eq!(core::mem::align_of::<PageInfo>(), 4);
    }

    #[test]
    fn new_reserved_is_unlinked_unpinned_and_reserved() {
        // Being const is what lets a static array be initialized with it.
        static PAGES: [PageInfo; 2] = [const { PageInfo::new_reserved() }; 2];
        let page = &PAGES[1];
        assert_eq!(page.flags(), PageFlags::RESERVED);
        assert!(page.is_reserved());
        assert!(!page.is_free_head() && !page.is_allocated_head());
        assert_eq!(
            (page.prev_free_pfn(), page.next_free_pfn()),
            (NO_PFN, NO_PFN)
        );
        assert_eq!(page.order(), 0);
        assert_eq!(page.refcount(), 0);
        assert_eq!(page.pin_count(), 0);
    }

    #[test]
    fn pin_and_unpin_return_the_new_count() {
        let page = PageInfo::new_reserved();
        assert_eq!(page.pin(), Some(1));
        assert_eq!(page.pin(), Some(2));
        assert_eq!(page.unpin(), Some(1));
        assert_eq!(page.pin_count(), 1);
        assert_eq!(page.unpin(), Some(0));
        assert_eq!(page.pin_count(), 0);
    }

    #[test]
    fn unbalanced_unpin_and_a_pin_past_the_depth_change_nothing() {
        let page = PageInfo::new_reserved();
        assert_eq!(page.unpin(), None);
        assert_eq!(page.pin_count(), 0);

        for depth in 1..=MAX_PIN_DEPTH {
            assert_eq!(page.pin(), Some(depth));
        }
        assert_eq!(page.pin(), None);
        assert_eq!(page.pin_count(), MAX_PIN_DEPTH);
        assert_eq!(page.unpin(), Some(MAX_PIN_DEPTH - 1));
        assert_eq!(page.pin(), Some(MAX_PIN_DEPTH));
    }

    #[test]
    fn pins_from_many_threads_are_not_lost() {
        let page = PageInfo::new_reserved();
        let per_thread = MAX_PIN_DEPTH / 4;
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        for _ in 0..per_thread {
                            page.pin().unwrap();
                        }
                        for _ in 0..per_thread {
                            page.unpin().unwrap();
                        }
                    }
                    for _ in 0..per_thread {
                        page.pin().unwrap();
                    }
                });
            }
        });
        assert_eq!(page.pin_count(), 4 * per_thread);
    }

    #[test]
    fn owners_are_counted_beyond_the_first() {
        let page = PageInfo::new_reserved();
        assert_eq!(page.unshare(), None, "the last owner frees, never unshares");
        assert_eq!(page.share(), Some(1));
        assert_eq!(page.share(), Some(2));
        assert_eq!(page.unshare(), Some(1));
        assert_eq!(page.unshare(), Some(0));
        assert_eq!(page.unshare(), None);
        assert_eq!(page.refcount(), 0);
        page.refcount.store(u32::MAX, Ordering::Relaxed);
        assert_eq!(page.share(), None);
    }

    #[test]
    fn setters_update_only_their_field() {
        let mut page = PageInfo::new_reserved();
        page.set_flags(PageFlags::FREE);
        page.set_order(7);
        page.set_free_links(3, 9);
        assert_eq!((page.flags(), page.order()), (PageFlags::FREE, 7));
        assert_eq!((page.prev_free_pfn(), page.next_free_pfn()), (3, 9));
        page.set_prev_free_pfn(NO_PFN);
        page.set_next_free_pfn(4);
        assert_eq!((page.prev_free_pfn(), page.next_free_pfn()), (NO_PFN, 4));
        assert!(page.is_free_head() && !page.is_reserved());
    }
}
