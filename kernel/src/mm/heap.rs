//! The kernel heap, the global allocator.
//!
//! - Requests up to 2 KiB come from the slab allocator's size classes
//!   (`super::slab`: 16 B to 2 KiB, with classes between the powers of
//!   two), each behind its own lock.  Slabs come from the frame allocator
//!   and go back to it when they empty.
//! - Larger requests, and the rare ones aligned past 64 bytes, take a buddy
//!   block of the next power-of-two page count.
//!
//! [`bytes_in_use`] counts the bytes handed out and not yet returned;
//! [`stats`] says what each class and the large blocks hold.  The leak
//! tests compare them before and after.

use super::frame::global as frames;
use super::slab::{self, CLASS_COUNT, ClassStats, PageSource, SlabClass};
use super::{PAGE_SIZE, phys_to_virt, virt_to_phys};
use crate::arch::InterruptGuard;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::Mutex;
use x86_64::VirtAddr;

/// Slabs come from the buddy allocator, through the direct map.
struct Frames;

impl PageSource for Frames {
    fn alloc(&self, order: usize) -> Option<NonNull<u8>> {
        let phys = frames::alloc(order)?;
        NonNull::new(phys_to_virt(phys.as_u64()).as_mut_ptr())
    }

    unsafe fn free(&self, block: NonNull<u8>, order: usize) {
        let phys =
            virt_to_phys(VirtAddr::from_ptr(block.as_ptr())).expect("slab outside the direct map");
        frames::free(phys, order);
    }
}

pub struct KernelHeap {
    classes: [Mutex<SlabClass>; CLASS_COUNT],
    bytes_in_use: AtomicUsize,
    /// What the allocations really take: class sizes and whole blocks.
    bytes_allocated: AtomicUsize,
    /// Frames held by blocks larger than a class serves.
    large_frames: AtomicUsize,
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap {
    classes: {
        let mut classes = [const { Mutex::new(SlabClass::new(0)) }; CLASS_COUNT];
        let mut class = 0;
        while class < CLASS_COUNT {
            classes[class] = Mutex::new(SlabClass::new(class));
            class += 1;
        }
        classes
    },
    bytes_in_use: AtomicUsize::new(0),
    bytes_allocated: AtomicUsize::new(0),
    large_frames: AtomicUsize::new(0),
};

/// Which size class serves `layout`, or `None` for a buddy block.
fn class_of(layout: &Layout) -> Option<usize> {
    slab::class_of(layout.size(), layout.align())
}

/// The buddy order for a large `layout`.
fn order_of(layout: &Layout) -> usize {
    let pages = layout
        .size()
        .max(layout.align())
        .div_ceil(PAGE_SIZE as usize);
    pages.next_power_of_two().trailing_zeros() as usize
}

// SAFETY: `alloc` returns memory of at least `layout.size()` bytes aligned
// to `layout.align()` (a class is picked for both, see `slab::class_of`; a
// buddy block is aligned to its size), owned by nobody else; `dealloc` takes
// it back with the same layout and so finds the same class or order.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _irq = InterruptGuard::new();
        let (object, footprint) = match class_of(&layout) {
            Some(class) => (
                self.classes[class]
                    .lock()
                    .alloc(&Frames)
                    .map_or(ptr::null_mut(), NonNull::as_ptr),
                slab::CLASS_BYTES[class],
            ),
            None => {
                let order = order_of(&layout);
                match frames::alloc(order) {
                    Some(phys) => {
                        self.large_frames.fetch_add(1 << order, Ordering::Relaxed);
                        (
                            phys_to_virt(phys.as_u64()).as_mut_ptr(),
                            (PAGE_SIZE as usize) << order,
                        )
                    }
                    None => (ptr::null_mut(), 0),
                }
            }
        };
        if !object.is_null() {
            self.bytes_in_use
                .fetch_add(layout.size(), Ordering::Relaxed);
            self.bytes_allocated.fetch_add(footprint, Ordering::Relaxed);
        }
        object
    }

    unsafe fn dealloc(&self, object: *mut u8, layout: Layout) {
        let _irq = InterruptGuard::new();
        let object = NonNull::new(object).expect("freeing a null heap object");
        let footprint = match class_of(&layout) {
            Some(class) => {
                // SAFETY: `alloc` took the object from this class (the same
                // layout picks the same class), and the caller is done with it.
                unsafe { self.classes[class].lock().free(object, &Frames) };
                slab::CLASS_BYTES[class]
            }
            None => {
                let order = order_of(&layout);
                // SAFETY: a block `alloc` took with this order.
                unsafe { Frames.free(object, order) };
                self.large_frames.fetch_sub(1 << order, Ordering::Relaxed);
                (PAGE_SIZE as usize) << order
            }
        };
        self.bytes_in_use
            .fetch_sub(layout.size(), Ordering::Relaxed);
        self.bytes_allocated.fetch_sub(footprint, Ordering::Relaxed);
    }
}

/// What every size class holds now.
pub fn stats() -> [ClassStats; CLASS_COUNT] {
    core::array::from_fn(|class| {
        let _irq = InterruptGuard::new();
        HEAP.classes[class].lock().stats()
    })
}

/// Frames held by allocations too large for a class.
pub fn large_frames() -> usize {
    HEAP.large_frames.load(Ordering::Relaxed)
}

/// Bytes currently allocated from the heap (as requested, not rounded).
pub fn bytes_in_use() -> usize {
    HEAP.bytes_in_use.load(Ordering::Relaxed)
}

/// Bytes the current allocations really take (rounded to their class or
/// block).
pub fn bytes_allocated() -> usize {
    HEAP.bytes_allocated.load(Ordering::Relaxed)
}

crate::ktest!(
    fn allocations_are_aligned_and_returned() {
        use alloc::alloc::{alloc, dealloc};
        let baseline = bytes_in_use();
        let mut live = alloc::vec::Vec::with_capacity(64);
        for (size, align) in [
            (1, 1),
            (24, 8),
            (100, 64),
            (2048, 2048),
            (3000, 8),
            (5000, 4096),
            (1 << 20, 16),
            (64, 8192),
        ] {
            let layout = Layout::from_size_align(size, align).map_err(|e| alloc::format!("{e}"))?;
            // SAFETY: non-zero size; freed below with the same layout.
            let object = unsafe { alloc(layout) };
            crate::ensure!(!object.is_null(), "allocation of {size} bytes failed");
            crate::ensure!(
                (object as usize).is_multiple_of(align),
                "{size}/{align} misaligned at {object:p}"
            );
            // SAFETY: the object is ours and `size` bytes long.
            unsafe { core::ptr::write_bytes(object, 0xa5, size) };
            live.push((object, layout));
        }
        crate::ensure!(bytes_in_use() > baseline, "usage did not grow");
        for (object, layout) in live {
            // SAFETY: allocated above with this layout.
            unsafe { dealloc(object, layout) };
        }
        crate::ensure_eq!(bytes_in_use(), baseline);
        Ok(())
    }
);

crate::ktest!(
    fn freed_objects_are_reused() {
        let first = alloc::boxed::Box::new([7u8; 200]);
        let address = &*first as *const [u8; 200] as usize;
        drop(first);
        let second = alloc::boxed::Box::new([9u8; 200]);
        crate::ensure_eq!(&*second as *const [u8; 200] as usize, address);
        Ok(())
    }
);

crate::ktest!(
    fn empty_slabs_go_back_to_the_frame_allocator() {
        // 5,000 objects of a class nothing else uses much (1,536 bytes): the
        // slabs they took go back when they are freed, all but the spare.
        let class = slab::class_of(1500, 8).ok_or("no class for 1,500 bytes")?;
        let free_before = frames::free_frames();
        let stats_before = stats()[class];
        let objects: alloc::vec::Vec<_> = (0..5_000)
            .map(|_| alloc::boxed::Box::new([3u8; 1500]))
            .collect();
        let grown = stats()[class];
        crate::ensure_eq!(grown.objects, stats_before.objects + 5_000);
        crate::ensure!(grown.frames >= 5_000 * 1536 / 4096, "{grown:?}");
        drop(objects);
        let after = stats()[class];
        crate::ensure_eq!(after.objects, stats_before.objects);
        crate::ensure!(
            after.slabs <= stats_before.slabs + 1,
            "{after:?} kept slabs"
        );
        let spare_frames = after.spare_slabs << slab::slab_order(class);
        crate::ensure!(
            frames::free_frames() + spare_frames >= free_before,
            "{} frames not returned",
            free_before - frames::free_frames()
        );
        Ok(())
    }
);
