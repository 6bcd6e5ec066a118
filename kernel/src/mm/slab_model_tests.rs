//! A seeded model test of the slab classes as the heap uses them: random
//! `(size, align)` requests mapped through `class_of`, frees in random
//! order, and a frame source that runs dry now and then.  After every step
//! the model checks that each object is aligned, inside its slab past the
//! header, and overlaps no other; every few steps, that no object was
//! overwritten, the counts agree, and every slab held but the spare holds
//! an object.  At the end every frame goes back.

use super::super::*;
use super::Pages;
use crate::test_rng::XorShift;
use std::collections::{BTreeMap, BTreeSet};

/// A live object: its class, what was asked for, and the byte it holds.
#[derive(Clone, Copy, Debug)]
struct Live {
    class: usize,
    align: usize,
    fill: u8,
}

/// A request as the heap sees them: mostly small, aligned as Rust types
/// are, sometimes large or over-aligned.
fn random_request(rng: &mut XorShift) -> (usize, usize) {
    let size = match rng.below(8) {
        0..=4 => 1 + rng.index(256),
        5 | 6 => 1 + rng.index(MAX_OBJECT_BYTES),
        _ => rng.pick(&CLASS_BYTES) - rng.index(2),
    };
    let align = rng.pick(&[1, 2, 4, 8, 8, 8, 16, 32, 64]);
    (size, align)
}

fn object_bytes(address: usize, class: usize) -> &'static [u8] {
    // SAFETY: a live object of the class, which the test owns.
    unsafe { std::slice::from_raw_parts(address as *const u8, CLASS_BYTES[class]) }
}

struct Model {
    classes: Vec<SlabClass>,
    live: BTreeMap<usize, Live>,
}

impl Model {
    /// The checks of one new object at `address`.
    fn check_placement(&self, address: usize, live: Live, context: &str) {
        let class = live.class;
        assert!(address.is_multiple_of(live.align), "{context}: unaligned");
        assert!(address.is_multiple_of(class_align(class)), "{context}");
        let offset = address % slab_bytes(class);
        assert!(
            offset >= HEADER_BYTES && offset + CLASS_BYTES[class] <= slab_bytes(class),
            "{context}: object at offset {offset} of its slab"
        );
        let end = address + CLASS_BYTES[class];
        if let Some((&before, other)) = self.live.range(..address).next_back() {
            assert!(
                before + CLASS_BYTES[other.class] <= address,
                "{context}: overlap"
            );
        }
        if let Some((&after, _)) = self.live.range(address..).next() {
            assert!(end <= after, "{context}: overlap at {after:#x}");
        }
    }

    /// The checks of the whole state.
    fn check_all(&self, pages: &Pages, context: &str) {
        for (&address, live) in &self.live {
            let bytes = object_bytes(address, live.class);
            assert!(
                bytes.iter().all(|&byte| byte == live.fill),
                "{context}: object at {address:#x} overwritten"
            );
        }
        let mut frames = 0;
        for (class, slabs) in self.classes.iter().enumerate() {
            let stats = slabs.stats();
            let objects: Vec<usize> = self
                .live
                .iter()
                .filter(|(_, live)| live.class == class)
                .map(|(&address, _)| address)
                .collect();
            assert_eq!(stats.objects, objects.len(), "{context}: class {class}");
            let with_objects: BTreeSet<usize> = objects
                .iter()
                .map(|address| address / slab_bytes(class))
                .collect();
            assert_eq!(
                stats.slabs,
                with_objects.len() + stats.spare_slabs,
                "{context}: class {class} holds an empty slab besides its spare"
            );
            frames += stats.frames;
        }
        assert_eq!(frames, pages.frames(), "{context}");
    }
}

const SEED: u64 = 0x51ab_5eed;

#[test]
fn random_layouts_against_a_model_with_frames_running_out() {
    let pages = Pages::default();
    let mut rng = XorShift::new(SEED);
    let mut model = Model {
        classes: (0..CLASS_COUNT).map(SlabClass::new).collect(),
        live: BTreeMap::new(),
    };
    let (mut allocated, mut refused) = (0, 0);
    for step in 0..40_000 {
        let context = format!("seed {SEED:#x}, step {step}");
        // Waves: grow to a few thousand objects, then shrink, so slabs
        // fill, empty and go back again and again.
        let growing = (step / 5_000) % 2 == 0;
        if step % 1_000 == 0 {
            // Now and then, no more frames than are held now plus a few.
            let limit = rng.one_in(3).then(|| pages.frames() + rng.index(4));
            pages.limit.set(limit);
        }
        if model.live.is_empty() || rng.percent(if growing { 65 } else { 35 }) {
            let (size, align) = random_request(&mut rng);
            let class = class_of(size, align).expect("every request up to 2 KiB fits");
            let before = model.classes[class].stats();
            match model.classes[class].alloc(&pages) {
                Some(object) => {
                    let address = object.as_ptr() as usize;
                    let live = Live {
                        class,
                        align,
                        fill: rng.next() as u8,
                    };
                    model.check_placement(address, live, &context);
                    // SAFETY: a fresh object of the class's size.
                    unsafe { ptr::write_bytes(object.as_ptr(), live.fill, CLASS_BYTES[class]) };
                    model.live.insert(address, live);
                    allocated += 1;
                }
                None => {
                    assert!(pages.limit.get().is_some(), "{context}: refused freely");
                    assert_eq!(model.classes[class].stats(), before, "{context}");
                    refused += 1;
                }
            }
        } else {
            let nth = rng.index(model.live.len());
            let (&address, &live) = model.live.iter().nth(nth).unwrap();
            let bytes = object_bytes(address, live.class);
            assert!(
                bytes.iter().all(|&b| b == live.fill),
                "{context}: overwritten"
            );
            model.live.remove(&address);
            let object = NonNull::new(address as *mut u8).unwrap();
            // SAFETY: a live object of this class, not used again.
            unsafe { model.classes[live.class].free(object, &pages) };
        }
        if step % 250 == 0 {
            model.check_all(&pages, &context);
        }
    }
    assert!(
        allocated > 15_000 && refused > 100,
        "{allocated} / {refused}"
    );
    model.check_all(&pages, "before the end");
    let mut rest: Vec<(usize, Live)> = std::mem::take(&mut model.live).into_iter().collect();
    for index in (1..rest.len()).rev() {
        rest.swap(index, rng.index(index + 1));
    }
    for (address, live) in rest {
        let object = NonNull::new(address as *mut u8).unwrap();
        // SAFETY: as above.
        unsafe { model.classes[live.class].free(object, &pages) };
    }
    for slabs in &mut model.classes {
        let stats = slabs.stats();
        assert_eq!((stats.objects, stats.slabs), (0, stats.spare_slabs));
        slabs.release_spare(&pages);
    }
    assert_eq!(pages.frames(), 0, "every frame back");
}
