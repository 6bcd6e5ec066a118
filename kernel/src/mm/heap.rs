//! The kernel heap, the global allocator.
//!
//! - Requests up to 2 KiB come from power-of-two size classes (16 B to
//!   2 KiB).  Each class keeps a free list threaded through its free objects
//!   and refills by splitting one 4 KiB frame.
//! - Larger requests take a buddy block of the next power-of-two page count.
//!
//! A class is picked from `max(size, align)`, so every object is aligned to
//! its class size and a buddy block to its own size: any alignment a
//! `Layout` asks for is met.  Memory handed to a class stays with it (the
//! slab allocator of the memory work will return empty pages).
//!
//! [`bytes_in_use`] counts the bytes handed out and not yet returned; the
//! leak tests compare it before and after.

use super::frame::global as frames;
use super::{PAGE_SIZE, phys_to_virt, virt_to_phys};
use crate::arch::InterruptGuard;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::Mutex;
use x86_64::VirtAddr;

const MIN_CLASS_BYTES: usize = 16;
const MAX_CLASS_BYTES: usize = 2048;
const CLASS_COUNT: usize = 8; // 16, 32, .., 2048

/// A free object: its first word links to the next free one.
struct FreeList {
    head: Option<NonNull<FreeList>>,
}

// SAFETY: the list only holds pointers to heap memory that nothing else
// references while it is free; access is serialized by the class's lock.
unsafe impl Send for FreeList {}

pub struct KernelHeap {
    classes: [Mutex<FreeList>; CLASS_COUNT],
    bytes_in_use: AtomicUsize,
    /// What the allocations really take: class sizes and whole blocks.
    bytes_allocated: AtomicUsize,
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap {
    classes: [const { Mutex::new(FreeList { head: None }) }; CLASS_COUNT],
    bytes_in_use: AtomicUsize::new(0),
    bytes_allocated: AtomicUsize::new(0),
};

/// The bytes an allocation of `layout` really takes.
fn footprint(layout: &Layout) -> usize {
    match class_of(layout) {
        Some(class) => class_bytes(class),
        None => (PAGE_SIZE as usize) << order_of(layout),
    }
}

/// Which size class serves `layout`, or `None` for a buddy block.
fn class_of(layout: &Layout) -> Option<usize> {
    let bytes = layout.size().max(layout.align()).max(MIN_CLASS_BYTES);
    (bytes <= MAX_CLASS_BYTES).then(|| bytes.next_power_of_two().trailing_zeros() as usize - 4)
}

fn class_bytes(class: usize) -> usize {
    MIN_CLASS_BYTES << class
}

/// The buddy order for a large `layout`.
fn order_of(layout: &Layout) -> usize {
    let pages = layout
        .size()
        .max(layout.align())
        .div_ceil(PAGE_SIZE as usize);
    pages.next_power_of_two().trailing_zeros() as usize
}

impl KernelHeap {
    fn alloc_small(&self, class: usize) -> *mut u8 {
        let mut list = self.classes[class].lock();
        if list.head.is_none() {
            let Some(frame) = frames::alloc(0) else {
                return ptr::null_mut();
            };
            let base = phys_to_virt(frame.as_u64()).as_mut_ptr::<u8>();
            let size = class_bytes(class);
            for offset in (0..PAGE_SIZE as usize).step_by(size).rev() {
                // SAFETY: `offset` lies inside the fresh frame, which this
                // class now owns; each object is at least a pointer in size.
                let object = unsafe { base.add(offset) }.cast::<FreeList>();
                // SAFETY: as above; the object is unused and aligned to its size.
                unsafe { object.write(FreeList { head: list.head }) };
                list.head = NonNull::new(object);
            }
        }
        let object = list.head.expect("refilled above");
        // SAFETY: `object` is a free object of this class, linked by us.
        list.head = unsafe { object.as_ref().head };
        object.as_ptr().cast()
    }

    fn free_small(&self, class: usize, object: *mut u8) {
        let mut list = self.classes[class].lock();
        let object = object.cast::<FreeList>();
        // SAFETY: the caller returns an object of this class it no longer
        // uses; its storage becomes the list link.
        unsafe { object.write(FreeList { head: list.head }) };
        list.head = NonNull::new(object);
    }
}

// SAFETY: `alloc` returns memory of at least `layout.size()` bytes aligned
// to `layout.align()` (see `class_of`/`order_of`), owned by nobody else;
// `dealloc` takes it back with the same layout and so finds the same class
// or order.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _irq = InterruptGuard::new();
        let object = match class_of(&layout) {
            Some(class) => self.alloc_small(class),
            None => match frames::alloc(order_of(&layout)) {
                Some(phys) => phys_to_virt(phys.as_u64()).as_mut_ptr(),
                None => ptr::null_mut(),
            },
        };
        if !object.is_null() {
            self.bytes_in_use
                .fetch_add(layout.size(), Ordering::Relaxed);
            self.bytes_allocated
                .fetch_add(footprint(&layout), Ordering::Relaxed);
        }
        object
    }

    unsafe fn dealloc(&self, object: *mut u8, layout: Layout) {
        let _irq = InterruptGuard::new();
        self.bytes_in_use
            .fetch_sub(layout.size(), Ordering::Relaxed);
        self.bytes_allocated
            .fetch_sub(footprint(&layout), Ordering::Relaxed);
        match class_of(&layout) {
            Some(class) => self.free_small(class, object),
            None => {
                let phys = virt_to_phys(VirtAddr::from_ptr(object))
                    .expect("heap block outside the direct map");
                frames::free(phys, order_of(&layout));
            }
        }
    }
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
