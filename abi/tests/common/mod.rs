//! A ring mapping on the heap, page-aligned like the real one, for tests.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;

use abi::ring::{RawRing, RingLayout};

/// Owns a zeroed, 4096-aligned allocation of `layout.total_bytes()` and a
/// `RawRing` over it with an initialised header.
pub struct HeapRing {
    memory: NonNull<u8>,
    alloc_layout: Layout,
    pub ring: RawRing,
}

impl HeapRing {
    /// A ring whose four indices all start at `first_index`.
    pub fn new(layout: RingLayout, first_index: u32) -> Self {
        let alloc_layout = Layout::from_size_align(layout.total_bytes(), 4096).unwrap();
        // SAFETY: the size is non-zero (at least one page).
        let memory = NonNull::new(unsafe { alloc_zeroed(alloc_layout) }).expect("out of memory");
        // SAFETY: 1. 4096-aligned and `total_bytes` long, freed only in
        // `drop`, after every user of `ring` (borrowed from `self`) is done.
        // 2. Tests touch the memory only through `RawRing`.
        let ring = unsafe { RawRing::new(memory, layout) };
        ring.init_header_at(first_index);
        HeapRing {
            memory,
            alloc_layout,
            ring,
        }
    }

    /// The mapping's base and length, as a program would receive them.
    pub fn mapping(&self) -> (NonNull<u8>, usize) {
        (self.memory, self.alloc_layout.size())
    }
}

impl Drop for HeapRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { dealloc(self.memory.as_ptr(), self.alloc_layout) };
    }
}
