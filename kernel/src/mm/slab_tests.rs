//! Host tests for `slab`: class choice, alignment, reuse, slabs returned
//! when they empty, out-of-memory, and a random workload against a model;
//! random layouts with frames running out in `slab_model_tests.rs`.

use super::*;
use crate::test_rng::XorShift;
use std::alloc::Layout;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

#[path = "slab_model_tests.rs"]
mod model;

/// Blocks from `std`'s allocator, counted, with an optional limit.
#[derive(Default)]
struct Pages {
    live: RefCell<BTreeMap<usize, usize>>,
    limit: Cell<Option<usize>>,
}

impl Pages {
    fn layout(order: usize) -> Layout {
        let bytes = 4096 << order;
        Layout::from_size_align(bytes, bytes).unwrap()
    }

    fn frames(&self) -> usize {
        self.live.borrow().values().map(|order| 1 << order).sum()
    }
}

impl PageSource for Pages {
    fn alloc(&self, order: usize) -> Option<NonNull<u8>> {
        if self
            .limit
            .get()
            .is_some_and(|limit| self.frames() + (1 << order) > limit)
        {
            return None;
        }
        // SAFETY: a non-zero size.
        let block = NonNull::new(unsafe { std::alloc::alloc(Self::layout(order)) })?;
        self.live
            .borrow_mut()
            .insert(block.as_ptr() as usize, order);
        Some(block)
    }

    unsafe fn free(&self, block: NonNull<u8>, order: usize) {
        let recorded = self.live.borrow_mut().remove(&(block.as_ptr() as usize));
        assert_eq!(recorded, Some(order), "freed a block it was not given");
        // SAFETY: allocated above with this layout.
        unsafe { std::alloc::dealloc(block.as_ptr(), Self::layout(order)) };
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        for (&address, &order) in self.live.borrow().iter() {
            // SAFETY: still ours; the test is over.
            unsafe { std::alloc::dealloc(address as *mut u8, Self::layout(order)) };
        }
    }
}

#[test]
fn classes_fit_their_requests() {
    for size in 1..=MAX_OBJECT_BYTES {
        for align in [1, 2, 4, 8, 16, 32, 64] {
            let class = class_of(size, align).unwrap();
            assert!(CLASS_BYTES[class] >= size, "{size}/{align}");
            assert!(class_align(class) >= align, "{size}/{align}");
            // The smallest such class.
            if class > 0 {
                let smaller = class - 1;
                assert!(
                    CLASS_BYTES[smaller] < size || class_align(smaller) < align,
                    "{size}/{align} could use {}",
                    CLASS_BYTES[smaller]
                );
            }
        }
    }
    assert_eq!(class_of(MAX_OBJECT_BYTES + 1, 8), None);
    assert_eq!(class_of(64, 128), None);
    assert_eq!(class_of(0, 1), Some(0));
}

#[test]
fn slabs_waste_little() {
    for (class, &object_bytes) in CLASS_BYTES.iter().enumerate() {
        let used = capacity(class) * object_bytes;
        assert!(
            used * 100 >= slab_bytes(class) * 93,
            "class {}: {used} of {}",
            CLASS_BYTES[class],
            slab_bytes(class)
        );
        assert!(capacity(class) >= 2);
    }
}

#[test]
fn objects_are_aligned_distinct_and_reused() {
    let pages = Pages::default();
    for (class, &object_bytes) in CLASS_BYTES.iter().enumerate() {
        let mut slab = SlabClass::new(class);
        let count = capacity(class) * 3 + 1;
        let objects: Vec<_> = (0..count).map(|_| slab.alloc(&pages).unwrap()).collect();
        let addresses: BTreeSet<usize> = objects.iter().map(|o| o.as_ptr() as usize).collect();
        assert_eq!(
            addresses.len(),
            count,
            "class {} handed out an object twice",
            CLASS_BYTES[class]
        );
        for object in &objects {
            assert!((object.as_ptr() as usize).is_multiple_of(class_align(class)));
            // Fill it: a neighbour or the header would be damaged if
            // objects overlapped them.
            // SAFETY: the object is ours and of the class's size.
            unsafe { ptr::write_bytes(object.as_ptr(), 0xa5, object_bytes) };
        }
        assert_eq!(slab.stats().objects, count);
        assert_eq!(slab.stats().slabs, 4);
        assert_eq!(pages.frames(), 4 << slab_order(class));
        let last = objects[count - 1];
        // SAFETY: ours, unused from now on.
        unsafe { slab.free(last, &pages) };
        assert_eq!(
            slab.alloc(&pages),
            Some(last),
            "the freed object is reused first"
        );
        for object in objects {
            // SAFETY: as above.
            unsafe { slab.free(object, &pages) };
        }
        let stats = slab.stats();
        assert_eq!((stats.objects, stats.slabs, stats.spare_slabs), (0, 1, 1));
        slab.release_spare(&pages);
        assert_eq!(pages.frames(), 0, "class {object_bytes}");
    }
}

#[test]
fn empty_slabs_go_back_but_one_spare_stays() {
    let pages = Pages::default();
    let mut slab = SlabClass::new(7); // 256 bytes
    let per_slab = capacity(7);
    let objects: Vec<_> = (0..per_slab * 5)
        .map(|_| slab.alloc(&pages).unwrap())
        .collect();
    assert_eq!(pages.frames(), 5);
    // Free all of the first, third and fifth slabs' objects.
    for (index, object) in objects.iter().enumerate() {
        if (index / per_slab).is_multiple_of(2) {
            // SAFETY: ours, not used again.
            unsafe { slab.free(*object, &pages) };
        }
    }
    let stats = slab.stats();
    assert_eq!(
        (stats.slabs, stats.spare_slabs, stats.objects),
        (3, 1, 2 * per_slab)
    );
    assert_eq!(pages.frames(), 3);
    // Allocating and freeing one object over and over takes no frames.
    for _ in 0..1000 {
        let object = slab.alloc(&pages).unwrap();
        // SAFETY: just allocated.
        unsafe { slab.free(object, &pages) };
    }
    assert_eq!(pages.frames(), 3);
}

#[test]
fn running_out_of_frames_is_an_error_not_a_corruption() {
    let pages = Pages::default();
    pages.limit.set(Some(2));
    let mut slab = SlabClass::new(8); // 384 bytes, one frame a slab
    let objects: Vec<_> = std::iter::from_fn(|| slab.alloc(&pages)).collect();
    assert_eq!(objects.len(), 2 * capacity(8));
    assert_eq!(slab.alloc(&pages), None);
    assert_eq!(slab.stats().objects, objects.len());
    for object in objects {
        // SAFETY: ours.
        unsafe { slab.free(object, &pages) };
    }
    slab.release_spare(&pages);
    assert_eq!(pages.frames(), 0);
}

#[test]
fn random_workload_matches_a_model() {
    let pages = Pages::default();
    let mut classes: Vec<SlabClass> = (0..CLASS_COUNT).map(SlabClass::new).collect();
    // Live objects: address -> (class, the byte written into it).
    let mut live: BTreeMap<usize, (usize, u8)> = BTreeMap::new();
    let mut rng = XorShift::new(0x2545_f491_4f6c_dd1d);
    for step in 0..60_000u32 {
        let roll = rng.next();
        let grow = step < 40_000;
        if live.is_empty() || (roll % 100) < if grow { 60 } else { 35 } {
            let class = (roll >> 8) as usize % CLASS_COUNT;
            let object = classes[class].alloc(&pages).unwrap();
            let address = object.as_ptr() as usize;
            let fill = (roll >> 20) as u8;
            // SAFETY: a fresh object of the class's size.
            unsafe { ptr::write_bytes(object.as_ptr(), fill, CLASS_BYTES[class]) };
            assert!(
                live.insert(address, (class, fill)).is_none(),
                "handed out twice"
            );
        } else {
            let nth = (roll >> 8) as usize % live.len();
            let (&address, &(class, fill)) = live.iter().nth(nth).unwrap();
            // SAFETY: a live object of this class.
            let bytes =
                unsafe { std::slice::from_raw_parts(address as *const u8, CLASS_BYTES[class]) };
            assert!(
                bytes.iter().all(|&b| b == fill),
                "object at {address:#x} was overwritten"
            );
            live.remove(&address);
            // SAFETY: as above, not used again.
            unsafe { classes[class].free(NonNull::new(address as *mut u8).unwrap(), &pages) };
        }
        if step % 5000 == 0 {
            let mut frames = 0;
            for (class, slab) in classes.iter().enumerate() {
                let stats = slab.stats();
                let expected = live.values().filter(|(c, _)| *c == class).count();
                assert_eq!(stats.objects, expected);
                // No slab without an object in it, but the spare.
                assert!(stats.slabs <= expected + stats.spare_slabs);
                frames += stats.frames;
            }
            assert_eq!(frames, pages.frames());
        }
    }
    for (address, (class, _)) in std::mem::take(&mut live) {
        // SAFETY: live objects of their classes.
        unsafe { classes[class].free(NonNull::new(address as *mut u8).unwrap(), &pages) };
    }
    for slab in &mut classes {
        assert_eq!(slab.stats().objects, 0);
        assert!(slab.stats().slabs <= 1);
        slab.release_spare(&pages);
    }
    assert_eq!(pages.frames(), 0);
}
