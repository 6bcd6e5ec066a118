//! The program's halves of a ring: [`SqProducer`] submits SQEs,
//! [`CqConsumer`] reads CQEs.  `user/rt` wraps them in its liburing-like
//! API (`get_sqe`, `submit`, `wait_cqe`).
//!
//! The program trusts the kernel, but a bug should still not turn into
//! overwriting SQEs the kernel has not copied: indices from the header are
//! clamped, never allowed to wrap into huge counts.
#![forbid(unsafe_code)]

use core::sync::atomic::Ordering;

use super::index::{pending, space};
use super::raw::RawRing;
use crate::{Cqe, Sqe};

/// The SQ has no free slot: reap CQEs or call `ring_enter`, then retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqFull;

/// Fills SQ slots and publishes them.
#[derive(Debug)]
pub struct SqProducer {
    ring: RawRing,
    /// Next slot to fill; may run ahead of the published tail.
    tail: u32,
    /// The tail as last stored to the header.
    published: u32,
    /// Free slots as of the last look at `sq_head`: the kernel only ever
    /// frees more, so this many can be filled without looking again.
    known_space: u32,
}

impl SqProducer {
    /// Starts at the header's current `sq_tail`.  One producer per ring.
    pub fn new(ring: RawRing) -> Self {
        let tail = ring.header().sq_tail.load(Ordering::Relaxed);
        SqProducer {
            ring,
            tail,
            published: tail,
            known_space: 0,
        }
    }

    /// Free SQ slots, counting those queued but not yet published.
    pub fn space(&self) -> u32 {
        // Acquire: pairs with the kernel's Release store of `sq_head`; its
        // copies of the freed slots happen before we overwrite them.
        let head = self.ring.header().sq_head.load(Ordering::Acquire);
        space(head, self.tail, self.ring.layout().sq_entries())
    }

    /// SQEs published and not yet taken by the kernel (at most the ring's
    /// size, whatever the header says).
    pub fn untaken(&self) -> u32 {
        // Acquire: as in `space`.
        let head = self.ring.header().sq_head.load(Ordering::Acquire);
        pending(head, self.published).min(self.ring.layout().sq_entries())
    }

    /// Whether the next [`SqProducer::queue`] will find a free slot.
    pub fn reserve(&mut self) -> bool {
        if self.known_space == 0 {
            self.known_space = self.space();
        }
        self.known_space > 0
    }

    /// Writes `sqe` into the next free slot without publishing it.
    pub fn queue(&mut self, sqe: &Sqe) -> Result<(), SqFull> {
        if !self.reserve() {
            return Err(SqFull);
        }
        self.known_space -= 1;
        self.ring.write_sqe(self.tail, sqe);
        self.tail = self.tail.wrapping_add(1);
        Ok(())
    }

    /// Makes every queued SQE visible to the kernel.  Returns how many were
    /// published by this call: `ring_enter`'s `to_submit`.
    pub fn publish(&mut self) -> u32 {
        let count = pending(self.published, self.tail);
        if count > 0 {
            // Release: the slot contents are visible before the new tail.
            self.ring
                .header()
                .sq_tail
                .store(self.tail, Ordering::Release);
            self.published = self.tail;
        }
        count
    }

    /// [`SqProducer::queue`] then [`SqProducer::publish`].
    pub fn push(&mut self, sqe: &Sqe) -> Result<(), SqFull> {
        self.queue(sqe)?;
        self.publish();
        Ok(())
    }
}

/// Reads CQEs and frees their slots.
#[derive(Debug)]
pub struct CqConsumer {
    ring: RawRing,
    /// Next CQE to read.
    head: u32,
    /// CQEs known ready as of the last look at `cq_tail`: the kernel only
    /// ever adds more, so this many can be read without looking again.
    known_ready: u32,
}

impl CqConsumer {
    /// Starts at the header's current `cq_head`.  One consumer per ring.
    pub fn new(ring: RawRing) -> Self {
        let head = ring.header().cq_head.load(Ordering::Relaxed);
        CqConsumer {
            ring,
            head,
            known_ready: 0,
        }
    }

    /// CQEs ready to read, at most `cq_entries`.
    pub fn ready(&self) -> u32 {
        // Acquire: pairs with the kernel's Release store of `cq_tail`, so
        // the CQEs below it are visible to `peek`.
        let tail = self.ring.header().cq_tail.load(Ordering::Acquire);
        pending(self.head, tail).min(self.ring.layout().cq_entries())
    }

    /// A copy of the oldest unread CQE, left in place.
    pub fn peek(&self) -> Option<Cqe> {
        (self.ready() > 0).then(|| self.ring.read_cqe(self.head))
    }

    /// Frees the oldest `count` CQEs (fewer if fewer are ready).
    pub fn advance(&mut self, count: u32) {
        let count = count.min(self.ready());
        self.known_ready = 0;
        self.release(count);
    }

    fn release(&mut self, count: u32) {
        if count > 0 {
            self.head = self.head.wrapping_add(count);
            // Release: our reads of those slots happen before the kernel
            // sees them free and reuses them.
            self.ring
                .header()
                .cq_head
                .store(self.head, Ordering::Release);
        }
    }

    /// Copies the oldest CQE out and frees its slot.
    pub fn pop(&mut self) -> Option<Cqe> {
        if self.known_ready == 0 {
            self.known_ready = self.ready();
            if self.known_ready == 0 {
                return None;
            }
        }
        let cqe = self.ring.read_cqe(self.head);
        self.known_ready -= 1;
        self.release(1);
        Some(cqe)
    }

    /// CQEs waiting in the kernel's overflow list.  They arrive, in order,
    /// after the program frees CQ room and calls `ring_enter`.
    pub fn overflow(&self) -> u32 {
        self.ring.header().cq_overflow.load(Ordering::Acquire)
    }
}
