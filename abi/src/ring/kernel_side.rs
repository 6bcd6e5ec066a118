//! The kernel's halves of a ring: [`SqConsumer`] takes SQEs, [`CqProducer`]
//! posts CQEs.  The kernel's `ring/` wraps them; it owns the overflow list,
//! these only say when the CQ is full.
//!
//! Every value read from the header here is the program's and untrusted.
//! **Malformed `sq_tail` policy: reject.**  A tail claiming more than
//! `sq_entries` pending (too far ahead, or behind the head) can only come
//! from a broken or hostile program.  [`SqConsumer::take`] then reads no SQE
//! at all, leaves `sq_head` where it was, adds one to `sq_dropped`, and
//! answers `EINVAL` (which `ring_enter` returns).  Clamping instead would run
//! slots the program never meant to submit.  The program recovers by storing
//! a sane tail.
#![forbid(unsafe_code)]

use core::mem::MaybeUninit;
use core::sync::atomic::Ordering;

use super::index::{checked_pending, space};
use super::raw::RawRing;
use crate::{Cqe, Errno, SqRingFlags, Sqe};

/// Takes SQEs out of a ring, copying each exactly once.
#[derive(Debug)]
pub struct SqConsumer {
    ring: RawRing,
    /// The kernel's own head; the header's copy is only ever stored to.
    head: u32,
}

impl SqConsumer {
    /// Starts at the header's current `sq_head`.  Create it right after
    /// [`RawRing::init_header`], before the program can write the header.
    pub fn new(ring: RawRing) -> Self {
        let head = ring.header().sq_head.load(Ordering::Relaxed);
        SqConsumer { ring, head }
    }

    /// The next index to take.
    pub fn head(&self) -> u32 {
        self.head
    }

    /// SQEs the program has published and the kernel not yet taken;
    /// `EINVAL` for a malformed tail.  Only [`SqConsumer::take`] counts a
    /// refusal in `sq_dropped`, so asking first does not count twice.
    pub fn pending(&self) -> Result<u32, Errno> {
        // Acquire: pairs with the program's Release store of `sq_tail`, so
        // the slots it filled before that store are visible to `take`.
        let tail = self.ring.header().sq_tail.load(Ordering::Acquire);
        checked_pending(self.head, tail, self.ring.layout().sq_entries()).ok_or(Errno::EINVAL)
    }

    /// Copies up to `out.len()` pending SQEs into `out`, in submission
    /// order, and releases their slots.  Returns how many were taken.
    pub fn take(&mut self, out: &mut [Sqe]) -> Result<usize, Errno> {
        let count = self.pending_or_count_drop()?.min(out.len());
        for (i, sqe) in out[..count].iter_mut().enumerate() {
            // `count <= sq_entries <= 4096`, so `i` fits in `u32`.
            *sqe = self.ring.read_sqe(self.head.wrapping_add(i as u32));
        }
        self.release(count);
        Ok(count)
    }

    /// [`SqConsumer::take`] into a buffer that need not be initialized;
    /// returns the SQEs taken, as the front of `out`.
    pub fn take_uninit<'a>(
        &mut self,
        out: &'a mut [MaybeUninit<Sqe>],
    ) -> Result<&'a mut [Sqe], Errno> {
        let count = self.pending_or_count_drop()?.min(out.len());
        let taken = self.ring.read_sqes(self.head, &mut out[..count]);
        self.release(count);
        Ok(taken)
    }

    /// [`SqConsumer::pending`], counting a malformed tail in `sq_dropped`.
    fn pending_or_count_drop(&self) -> Result<usize, Errno> {
        let pending = self.pending().inspect_err(|_| {
            self.ring
                .header()
                .sq_dropped
                .fetch_add(1, Ordering::Relaxed);
        })?;
        Ok(pending as usize)
    }

    /// Gives `count` taken slots back to the program.
    fn release(&mut self, count: usize) {
        if count > 0 {
            self.head = self.head.wrapping_add(count as u32);
            // Release: the copies above happen before the program sees the
            // slots free and overwrites them.
            self.ring
                .header()
                .sq_head
                .store(self.head, Ordering::Release);
        }
    }
}

/// The CQ has no free slot: keep the CQE in the overflow list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CqFull;

/// Posts CQEs into a ring.
#[derive(Debug)]
pub struct CqProducer {
    ring: RawRing,
    /// The kernel's own tail; the header's copy is only ever stored to.
    tail: u32,
}

impl CqProducer {
    /// Starts at the header's current `cq_tail`.  Create it right after
    /// [`RawRing::init_header`], before the program can write the header.
    pub fn new(ring: RawRing) -> Self {
        let tail = ring.header().cq_tail.load(Ordering::Relaxed);
        CqProducer { ring, tail }
    }

    /// The next index to fill.
    pub fn tail(&self) -> u32 {
        self.tail
    }

    /// Free CQ slots.  A malformed `cq_head` (behind, or impossibly far)
    /// reads as no room, so a hostile program can only fill its own
    /// overflow allowance, never make the kernel overwrite unread CQEs.
    pub fn space(&self) -> u32 {
        // Acquire: pairs with the program's Release store of `cq_head`, so
        // its reads of the freed slots happen before we overwrite them.
        let head = self.ring.header().cq_head.load(Ordering::Acquire);
        space(head, self.tail, self.ring.layout().cq_entries())
    }

    /// Posts `cqe` if there is room and publishes it at once.
    pub fn push(&mut self, cqe: &Cqe) -> Result<(), CqFull> {
        if self.space() == 0 {
            return Err(CqFull);
        }
        self.ring.write_cqe(self.tail, cqe);
        self.tail = self.tail.wrapping_add(1);
        // Release: the CQE's words are visible before the new tail.
        self.ring
            .header()
            .cq_tail
            .store(self.tail, Ordering::Release);
        Ok(())
    }

    /// Posts as many of `cqes` as there is room for, in order, and
    /// publishes them with one store of the tail; how many it posted.
    pub fn push_all(&mut self, cqes: &[Cqe]) -> usize {
        let count = (self.space() as usize).min(cqes.len());
        for (offset, cqe) in cqes[..count].iter().enumerate() {
            // `count <= cq_entries`, so `offset` fits in `u32`.
            self.ring
                .write_cqe(self.tail.wrapping_add(offset as u32), cqe);
        }
        if count > 0 {
            self.tail = self.tail.wrapping_add(count as u32);
            // Release: the CQEs' words are visible before the new tail.
            self.ring
                .header()
                .cq_tail
                .store(self.tail, Ordering::Release);
        }
        count
    }

    /// Tells the program how many CQEs wait in the overflow list, and sets
    /// or clears `SqRingFlags::CQ_OVERFLOW` to match.
    pub fn set_overflow(&self, waiting: u32) {
        let header = self.ring.header();
        header.cq_overflow.store(waiting, Ordering::Release);
        let flag = SqRingFlags::CQ_OVERFLOW.bits();
        if waiting > 0 {
            header.sq_flags.fetch_or(flag, Ordering::Release);
        } else {
            header.sq_flags.fetch_and(!flag, Ordering::Release);
        }
    }
}
