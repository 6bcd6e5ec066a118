//! The slab allocator under the kernel heap: size classes of fixed-size
//! objects, each served from slabs (blocks of 1 to 8 frames) that go back
//! to the frame allocator when they empty.
//!
//! Why one slab layer under the global allocator, not typed pools: the hot
//! objects (`Thread`s in their `Arc`, the region tree's `BTreeMap` nodes,
//! executor tasks, which are one allocation of header + future) all reach
//! the heap through `alloc`, and their sizes are fixed per type.  Size
//! classes serve every one of them without touching their owners, and
//! classes between the powers of two (48, 96, 192, 384, ...) keep the
//! rounding small: SerenityOS's kmalloc slabs, with Bonwick's empty-slab
//! return.
//!
//! ```text
//!  slab of class C (2^order frames, aligned to its size)
//!  +0   SlabHeader: partial-list links, free list, carved, in_use
//!  +64  object 0 | object 1 | ... | object capacity-1 | (unused tail)
//! ```
//!
//! - An object's slab is its address rounded down to the slab size; the
//!   caller names the class (the heap derives it from the `Layout` on both
//!   `alloc` and `dealloc`), so no lookup table is needed.
//! - A class keeps the slabs with room on a doubly linked *partial* list;
//!   full slabs are on no list.  Objects come from a slab's free list, then
//!   from its never-used tail (`carved`), so a fresh slab costs no writes.
//! - A slab whose last object is freed is kept as the class's one *spare*
//!   (so one object allocated and freed in a loop does not take and return
//!   a frame each time); a second empty slab goes back to the frames.
//! - Objects start 64 bytes in, so every object is aligned to the largest
//!   power of two dividing its class size, up to 64 ([`class_align`]).
//!
//! The logic is host-tested (`slab_tests.rs`) over a [`PageSource`] backed
//! by `std`'s allocator; the kernel's source is the buddy allocator.

use core::ptr::{self, NonNull};

/// The object sizes, smallest first.
pub const CLASS_BYTES: [usize; CLASS_COUNT] = [
    16, 32, 48, 64, 96, 128, 160, 192, 224, 256, 384, 512, 768, 1024, 1536, 2048,
];
pub const CLASS_COUNT: usize = 16;
/// The largest object a class serves; larger requests take whole blocks.
pub const MAX_OBJECT_BYTES: usize = CLASS_BYTES[CLASS_COUNT - 1];
/// Where a slab's first object starts (the header fits in front).
pub const HEADER_BYTES: usize = 64;
const PAGE_BYTES: usize = 4096;

const _: () = assert!(core::mem::size_of::<SlabHeader>() <= HEADER_BYTES);

/// The frame order of class `class`'s slabs: big enough that the header
/// and the unused tail cost at most about 6 % of a slab.
pub const fn slab_order(class: usize) -> usize {
    match CLASS_BYTES[class] {
        0..=384 => 0,
        385..=768 => 1,
        769..=1536 => 2,
        _ => 3,
    }
}

pub const fn slab_bytes(class: usize) -> usize {
    PAGE_BYTES << slab_order(class)
}

/// How many objects one slab of `class` holds.
pub const fn capacity(class: usize) -> usize {
    (slab_bytes(class) - HEADER_BYTES) / CLASS_BYTES[class]
}

/// The alignment every object of `class` has.
pub const fn class_align(class: usize) -> usize {
    let low_bit = 1 << CLASS_BYTES[class].trailing_zeros();
    if low_bit < HEADER_BYTES {
        low_bit
    } else {
        HEADER_BYTES
    }
}

/// `class_of(size)` for sizes in 16-byte steps, computed once.
const CLASS_BY_SIXTEENTHS: [u8; MAX_OBJECT_BYTES / 16 + 1] = {
    let mut table = [0u8; MAX_OBJECT_BYTES / 16 + 1];
    let mut steps = 0;
    let mut class = 0;
    while steps < table.len() {
        while CLASS_BYTES[class] < steps * 16 {
            class += 1;
        }
        table[steps] = class as u8;
        steps += 1;
    }
    table
};

/// The smallest class whose objects hold `size` bytes aligned to `align`,
/// or `None` when only whole blocks will do.
pub fn class_of(size: usize, align: usize) -> Option<usize> {
    if size > MAX_OBJECT_BYTES {
        return None;
    }
    let mut class = usize::from(CLASS_BY_SIXTEENTHS[size.div_ceil(16)]);
    // Every class is a multiple of 16 bytes: most requests stop here.
    if align <= 16 {
        return Some(class);
    }
    while class_align(class) < align {
        class += 1;
        if class == CLASS_COUNT {
            return None;
        }
    }
    Some(class)
}

/// Where slabs come from and go back to.
pub trait PageSource {
    /// A block of `2^order` frames aligned to its size.
    fn alloc(&self, order: usize) -> Option<NonNull<u8>>;
    /// Returns a block.
    ///
    /// # Safety
    ///
    /// `block` came from [`PageSource::alloc`] with this `order`, and
    /// nothing uses it any more.
    unsafe fn free(&self, block: NonNull<u8>, order: usize);
}

/// A free object: its first word links to the next free one in its slab.
struct FreeObject {
    next: *mut FreeObject,
}

/// The start of every slab.
#[repr(C)]
struct SlabHeader {
    /// The class's partial list (slabs with room, none full, none empty).
    prev: *mut SlabHeader,
    next: *mut SlabHeader,
    /// Objects freed back to this slab.
    free: *mut FreeObject,
    /// Objects ever handed out from the tail; those past it were never used.
    carved: u32,
    /// Objects handed out and not returned.
    in_use: u32,
}

/// What a class holds, for `MEM_STATS` and the leak checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    pub object_bytes: usize,
    /// Objects handed out and not returned.
    pub objects: usize,
    /// Slabs held, the empty spare included, and whether there is one.
    pub slabs: usize,
    pub spare_slabs: usize,
    /// Frames those slabs take.
    pub frames: usize,
}

/// One size class: its slabs and counts.  Not synchronized: the heap puts
/// each class behind its own lock.
pub struct SlabClass {
    class: usize,
    /// The class's constants, kept here so the hot paths do no arithmetic.
    object_bytes: usize,
    capacity: u32,
    /// Clears an object address's offset within its slab.
    slab_mask: usize,
    partial: *mut SlabHeader,
    spare: *mut SlabHeader,
    objects: usize,
    slabs: usize,
}

// SAFETY: a class only holds pointers into slabs it owns, which nothing
// else references; the owner serializes access (a lock per class).
unsafe impl Send for SlabClass {}

impl SlabClass {
    pub const fn new(class: usize) -> Self {
        Self {
            class,
            object_bytes: CLASS_BYTES[class],
            capacity: capacity(class) as u32,
            slab_mask: !(slab_bytes(class) - 1),
            partial: ptr::null_mut(),
            spare: ptr::null_mut(),
            objects: 0,
            slabs: 0,
        }
    }

    pub fn stats(&self) -> ClassStats {
        let spare_slabs = usize::from(!self.spare.is_null());
        ClassStats {
            object_bytes: CLASS_BYTES[self.class],
            objects: self.objects,
            slabs: self.slabs,
            spare_slabs,
            frames: self.slabs << slab_order(self.class),
        }
    }

    /// An object of this class's size and alignment, or `None` when no
    /// slab has room and `pages` has no block.
    pub fn alloc(&mut self, pages: &impl PageSource) -> Option<NonNull<u8>> {
        if self.partial.is_null() {
            let slab = self.fresh_slab(pages)?;
            self.push_partial(slab);
        }
        let slab = self.partial;
        // SAFETY: slabs on the partial list are live slabs of this class
        // with room (`in_use < capacity`), owned by it.
        let object = unsafe {
            let header = &mut *slab;
            let object = if header.free.is_null() {
                let offset = HEADER_BYTES + header.carved as usize * self.object_bytes;
                header.carved += 1;
                slab.cast::<u8>().add(offset)
            } else {
                let object = header.free;
                header.free = (*object).next;
                object.cast::<u8>()
            };
            header.in_use += 1;
            if header.in_use == self.capacity {
                self.unlink(slab);
            }
            object
        };
        self.objects += 1;
        NonNull::new(object)
    }

    /// Takes back an object.
    ///
    /// # Safety
    ///
    /// `object` came from [`SlabClass::alloc`] on this class (with the same
    /// `pages`) and is no longer used.
    pub unsafe fn free(&mut self, object: NonNull<u8>, pages: &impl PageSource) {
        let slab = (object.as_ptr() as usize & self.slab_mask) as *mut SlabHeader;
        // SAFETY: (1) the object lies in a slab of this class, whose header
        // is at the slab's aligned start; (2) the object is unused, so its
        // first word may become the free-list link (every class holds a
        // pointer).
        unsafe {
            let header = &mut *slab;
            let was_full = header.in_use == self.capacity;
            let freed = object.as_ptr().cast::<FreeObject>();
            freed.write(FreeObject { next: header.free });
            header.free = freed;
            header.in_use -= 1;
            if header.in_use == 0 {
                if !was_full {
                    self.unlink(slab);
                }
                self.retire(slab, pages);
            } else if was_full {
                self.push_partial(slab);
            }
        }
        self.objects -= 1;
    }

    /// The spare slab, or a new one from `pages`.
    fn fresh_slab(&mut self, pages: &impl PageSource) -> Option<*mut SlabHeader> {
        if !self.spare.is_null() {
            return Some(core::mem::replace(&mut self.spare, ptr::null_mut()));
        }
        let slab = pages
            .alloc(slab_order(self.class))?
            .as_ptr()
            .cast::<SlabHeader>();
        // SAFETY: a fresh block of at least a page, aligned, owned by us.
        unsafe {
            slab.write(SlabHeader {
                prev: ptr::null_mut(),
                next: ptr::null_mut(),
                free: ptr::null_mut(),
                carved: 0,
                in_use: 0,
            })
        };
        self.slabs += 1;
        Some(slab)
    }

    /// An empty slab: kept as the spare, or given back.
    ///
    /// # Safety
    ///
    /// `slab` is an empty slab of this class on no list.
    unsafe fn retire(&mut self, slab: *mut SlabHeader, pages: &impl PageSource) {
        if self.spare.is_null() {
            // Its objects go back to never-used, so reuse starts clean.
            // SAFETY: the caller's slab is ours and empty.
            unsafe {
                (*slab).free = ptr::null_mut();
                (*slab).carved = 0;
            }
            self.spare = slab;
        } else {
            self.slabs -= 1;
            // SAFETY: the slab came from `pages` with this order and holds
            // no object any more.
            unsafe { pages.free(NonNull::new_unchecked(slab.cast()), slab_order(self.class)) };
        }
    }

    /// Gives the spare slab back (for leak checks that count frames).
    pub fn release_spare(&mut self, pages: &impl PageSource) {
        if let Some(spare) = NonNull::new(core::mem::replace(&mut self.spare, ptr::null_mut())) {
            self.slabs -= 1;
            // SAFETY: the spare is an empty slab from `pages`.
            unsafe { pages.free(spare.cast(), slab_order(self.class)) };
        }
    }

    fn push_partial(&mut self, slab: *mut SlabHeader) {
        // SAFETY: `slab` and the list's slabs are live slabs of this class.
        unsafe {
            (*slab).prev = ptr::null_mut();
            (*slab).next = self.partial;
            if let Some(head) = self.partial.as_mut() {
                head.prev = slab;
            }
        }
        self.partial = slab;
    }

    /// # Safety
    ///
    /// `slab` is on this class's partial list.
    unsafe fn unlink(&mut self, slab: *mut SlabHeader) {
        // SAFETY: the caller's slab is on the list, and so are its neighbours.
        unsafe {
            let (prev, next) = ((*slab).prev, (*slab).next);
            match prev.as_mut() {
                Some(prev) => prev.next = next,
                None => self.partial = next,
            }
            if let Some(next) = next.as_mut() {
                next.prev = prev;
            }
            (*slab).prev = ptr::null_mut();
            (*slab).next = ptr::null_mut();
        }
    }
}

#[cfg(test)]
#[path = "slab_tests.rs"]
mod tests;
