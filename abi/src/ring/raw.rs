//! [`RawRing`]: access to a ring mapping that the other side may change at
//! any moment.  Both the kernel and the user runtime build on it; it is the
//! only code in this crate that touches raw memory.
//!
//! Everything in the mapping is accessed atomically:
//! - the header's words are `AtomicU32`s, so handing out `&RingHeader` is
//!   sound even while the peer stores to it;
//! - entries are copied in and out as 64-bit words with relaxed atomic loads
//!   and stores.  Unlike volatile, that is defined behaviour even when the
//!   peer writes the slot at the same time: the copy may be torn, but it is a
//!   value, read once, and the reader validates that value afterwards.
//!   No `&Sqe`/`&Cqe` into the mapping ever exists.
//!
//! Who writes what, and which orderings pair (`ring::kernel_side` and
//! `ring::user_side` follow this):
//!
//! | index | writer | writer's store | reader's load | what it publishes |
//! |---|---|---|---|---|
//! | `sq_tail` | program | Release, after filling slots | kernel, Acquire | the SQE contents |
//! | `sq_head` | kernel | Release, after copying slots | program, Acquire | "slots free": the kernel's copies happen before the program reuses them |
//! | `cq_tail` | kernel | Release, after filling slots | program, Acquire | the CQE contents |
//! | `cq_head` | program | Release, after reading slots | kernel, Acquire | "slots free", as above |
//!
//! Each side keeps its own index in a private variable and only *stores*
//! it to the header; it never reads its own index back, because the peer
//! could have scribbled on it.
//!
//! Geometry comes from a [`RingLayout`] held outside the mapping: the
//! kernel's own, or (on the user side) one checked against the header once
//! by [`RawRing::from_mapping`].

use core::mem::{MaybeUninit, size_of};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::index::slot;
use super::layout::{RingHeader, RingLayout};
use crate::{Cqe, Errno, Sqe};

/// A ring mapping: base address plus trusted geometry.  `Copy`, so the
/// producer and consumer halves can each hold one.
#[derive(Clone, Copy, Debug)]
pub struct RawRing {
    base: NonNull<u8>,
    layout: RingLayout,
}

// SAFETY: a `RawRing` is an address plus plain data.  Every access through
// it is atomic, so using copies from several threads at once is data-race
// free; the memory's lifetime is the constructor's contract, not a thread's.
unsafe impl Send for RawRing {}
// SAFETY: as for `Send`: `&RawRing` only allows atomic accesses.
unsafe impl Sync for RawRing {}

impl RawRing {
    /// Wraps a mapping whose geometry the caller knows (the kernel, which
    /// computed `layout` itself).  Call [`RawRing::init_header`] before
    /// sharing the mapping.
    ///
    /// # Safety
    ///
    /// 1. `base` is aligned to 64 bytes and valid for reads and writes of
    ///    `layout.total_bytes()` bytes, for as long as this value or any
    ///    copy of it is used.
    /// 2. Within this address space, nothing accesses those bytes except
    ///    through a `RawRing` (which is atomic).  Another address space may
    ///    do anything to them.
    pub const unsafe fn new(base: NonNull<u8>, layout: RingLayout) -> Self {
        RawRing { base, layout }
    }

    /// Wraps a mapping the kernel handed over, reading its geometry from the
    /// header once and checking it.  `EINVAL` if `base` is misaligned, the
    /// mapping is too short, or the header's geometry is not exactly what
    /// [`RingLayout::new`] gives for its entry counts.
    ///
    /// # Safety
    ///
    /// As for [`RawRing::new`], with `mapped_bytes` in place of
    /// `layout.total_bytes()`; alignment is checked, not assumed.
    pub unsafe fn from_mapping(base: NonNull<u8>, mapped_bytes: usize) -> Result<Self, Errno> {
        if !base.cast::<RingHeader>().is_aligned() || mapped_bytes < size_of::<RingHeader>() {
            return Err(Errno::EINVAL);
        }
        // SAFETY: aligned and large enough (checked above), valid for
        // `mapped_bytes` (caller).  The header is all atomics.
        let header = unsafe { base.cast::<RingHeader>().as_ref() };
        let load = |word: &AtomicU32| word.load(Ordering::Acquire);
        let layout = RingLayout::new(load(&header.sq_entries), load(&header.cq_entries))?;
        let consistent = load(&header.sq_mask) == layout.sq_mask()
            && load(&header.cq_mask) == layout.cq_mask()
            && load(&header.sqes_offset) as usize == layout.sqes_offset()
            && load(&header.cqes_offset) as usize == layout.cqes_offset()
            && load(&header.total_bytes) as usize == layout.total_bytes()
            && layout.total_bytes() <= mapped_bytes;
        if !consistent {
            return Err(Errno::EINVAL);
        }
        // SAFETY: alignment checked; `total_bytes <= mapped_bytes`, which the
        // caller vouches for, as for the rest of `new`'s contract.
        Ok(unsafe { Self::new(base, layout) })
    }

    /// The trusted geometry.
    pub const fn layout(&self) -> RingLayout {
        self.layout
    }

    /// The header.  Its words are atomics; see the module table for who
    /// stores which and with what ordering.
    pub fn header(&self) -> &RingHeader {
        // SAFETY: offset 0 of a mapping that is 64-aligned and at least
        // `total_bytes > size_of::<RingHeader>()` long (`new`, 1); every
        // field is an atomic, so shared access races with the peer soundly.
        unsafe { self.base.cast::<RingHeader>().as_ref() }
    }

    /// Writes the geometry and zeroes indices, flags and counters, with
    /// every index starting at 0.  Kernel side, before the program can see
    /// the mapping (mapping it into the program publishes these stores).
    pub fn init_header(&self) {
        self.init_header_at(0);
    }

    /// [`RawRing::init_header`] with all four indices starting at
    /// `first_index`, so tests can start right below the `u32` wrap.
    pub fn init_header_at(&self, first_index: u32) {
        let h = self.header();
        let l = &self.layout;
        let relaxed = Ordering::Relaxed;
        h.sq_entries.store(l.sq_entries(), relaxed);
        h.sq_mask.store(l.sq_mask(), relaxed);
        h.cq_entries.store(l.cq_entries(), relaxed);
        h.cq_mask.store(l.cq_mask(), relaxed);
        // `RingLayout` keeps these as `u32`, so the casts are lossless.
        h.sqes_offset.store(l.sqes_offset() as u32, relaxed);
        h.cqes_offset.store(l.cqes_offset() as u32, relaxed);
        h.total_bytes.store(l.total_bytes() as u32, relaxed);
        for index in [&h.sq_head, &h.sq_tail, &h.cq_head, &h.cq_tail] {
            index.store(first_index, relaxed);
        }
        for word in [&h.sq_flags, &h.sq_dropped, &h.cq_overflow, &h.cq_flags] {
            word.store(0, Ordering::Release);
        }
    }

    /// The words of SQ slot `index & sq_mask`.
    fn sqe_words(&self, index: u32) -> &[AtomicU64; Sqe::WORDS] {
        let offset = self.layout.sqes_offset() + slot(index, self.layout.sq_mask()) * Sqe::SIZE;
        // SAFETY: 1. `slot < sq_entries`, so `offset + Sqe::SIZE <=
        // cqes_offset <= total_bytes`: in bounds (`RingLayout` invariant).
        // 2. `sqes_offset` and `Sqe::SIZE` are multiples of 64 and the base
        // is 64-aligned, so the words are 8-aligned.  3. `AtomicU64` has
        // `u64`'s layout and these bytes are only accessed atomically here.
        unsafe {
            self.base
                .add(offset)
                .cast::<[AtomicU64; Sqe::WORDS]>()
                .as_ref()
        }
    }

    /// The words of CQ slot `index & cq_mask`.
    fn cqe_words(&self, index: u32) -> &[AtomicU64; Cqe::WORDS] {
        let offset = self.layout.cqes_offset() + slot(index, self.layout.cq_mask()) * Cqe::SIZE;
        // SAFETY: as in `sqe_words`: `offset + Cqe::SIZE <= total_bytes`,
        // `cqes_offset` and `Cqe::SIZE` are multiples of 16 on a 64-aligned
        // base, and the bytes are only accessed atomically.
        unsafe {
            self.base
                .add(offset)
                .cast::<[AtomicU64; Cqe::WORDS]>()
                .as_ref()
        }
    }

    /// Copies the SQE at free-running `index` out of the ring, reading each
    /// word exactly once.  The caller orders this after its Acquire load of
    /// `sq_tail`.
    pub fn read_sqe(&self, index: u32) -> Sqe {
        let words = self.sqe_words(index);
        Sqe::from_words(core::array::from_fn(|i| words[i].load(Ordering::Relaxed)))
    }

    /// Copies the SQEs at free-running indices `first..` into `out`, one
    /// per element, and returns them as initialized.  Lets a caller keep
    /// its batch buffer uninitialized (zeroing it would cost more than the
    /// copies).  The caller orders this after its Acquire load of `sq_tail`.
    pub fn read_sqes<'a>(&self, first: u32, out: &'a mut [MaybeUninit<Sqe>]) -> &'a mut [Sqe] {
        for (offset, slot) in out.iter_mut().enumerate() {
            slot.write(self.read_sqe(first.wrapping_add(offset as u32)));
        }
        // SAFETY: every element of `out` was written just above, and
        // `MaybeUninit<Sqe>` has `Sqe`'s layout.
        unsafe { &mut *(core::ptr::from_mut(out) as *mut [Sqe]) }
    }

    /// Copies `sqe` into the ring at free-running `index`.  The caller
    /// publishes it with a Release store of `sq_tail`.
    pub fn write_sqe(&self, index: u32, sqe: &Sqe) {
        for (word, value) in self.sqe_words(index).iter().zip(sqe.to_words()) {
            word.store(value, Ordering::Relaxed);
        }
    }

    /// Copies the CQE at free-running `index` out of the ring.  The caller
    /// orders this after its Acquire load of `cq_tail`.
    pub fn read_cqe(&self, index: u32) -> Cqe {
        let words = self.cqe_words(index);
        Cqe::from_words(core::array::from_fn(|i| words[i].load(Ordering::Relaxed)))
    }

    /// Copies `cqe` into the ring at free-running `index`.  The caller
    /// publishes it with a Release store of `cq_tail`.
    pub fn write_cqe(&self, index: u32, cqe: &Cqe) {
        for (word, value) in self.cqe_words(index).iter().zip(cqe.to_words()) {
            word.store(value, Ordering::Relaxed);
        }
    }
}
