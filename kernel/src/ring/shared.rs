//! One ring: the shared mapping and both of the kernel's halves.
//!
//! No completion is ever lost: when the CQ is full, CQEs wait in an
//! overflow list (the header's `cq_overflow` counts them and `sq_flags`
//! carries `CQ_OVERFLOW`) and move into the CQ as the process frees room.
//! The list is charged against a per-ring limit; past it, `ring_enter`
//! refuses new submissions with `EBUSY` until the process reaps.  SQEs
//! waiting behind an IO_DRAIN barrier count against the same limit (a
//! barrier held up by a long op would otherwise queue without bound).  A
//! CQE another ring sends (MSG_RING) is refused with `EOVERFLOW` at the
//! limit instead: the sender is not this ring's process.

use crate::mm::frame::global as frames;
use crate::mm::phys_to_virt;
use abi::ring::{CqProducer, RawRing, RingLayout, SqConsumer};
use abi::{Cqe, Errno, Sqe};
use alloc::collections::{LinkedList, VecDeque};
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use executor::Event;
use spin::Mutex;
use x86_64::PhysAddr;

/// Overflowed CQEs a ring may hold before submissions are refused.
pub const OVERFLOW_LIMIT: usize = 4096;

struct Completions {
    producer: CqProducer,
    /// A list, not a vector: CQEs of ops already running land here past
    /// the limit too, and a list grows an entry at a time, never by one
    /// block as big as the whole backlog.
    overflow: LinkedList<Cqe>,
    /// The process has ended: nobody will read another CQE.
    closed: bool,
}

pub struct Ring {
    layout: RingLayout,
    block: PhysAddr,
    order: usize,
    submissions: Mutex<SqConsumer>,
    completions: Mutex<Completions>,
    /// Signalled after CQEs are posted.
    posted: Event,
    /// The ops running, for cancellation and drains.
    pub inflight: super::inflight::Inflight,
    /// SQEs waiting behind an IO_DRAIN barrier, in order (`None`: no
    /// barrier is up).
    barrier: Mutex<Option<VecDeque<Sqe>>>,
    /// Whether `barrier` is `Some`, changed under its lock: what every
    /// submission checks first, with no lock while no barrier is up.
    barrier_up: AtomicBool,
}

impl Ring {
    /// A ring with `sq_entries` SQEs (twice as many CQEs), zeroed and with
    /// its header written.
    pub fn new(sq_entries: u32) -> Result<Self, Errno> {
        let layout = RingLayout::with_sq_entries(sq_entries)?;
        let pages = layout.total_bytes().div_ceil(4096);
        let order = pages.next_power_of_two().trailing_zeros() as usize;
        // A process's ring is its memory: it stops at the user reserve.
        let block = frames::alloc_user_zeroed(order).ok_or(Errno::ENOMEM)?;
        let base =
            NonNull::new(phys_to_virt(block.as_u64()).as_mut_ptr::<u8>()).ok_or(Errno::EFAULT)?;
        // SAFETY: 1. the block is page-aligned, `total_bytes` long at least,
        // reachable through the direct map, and freed only when this ring
        // drops (after every copy of `raw` inside it); 2. in the kernel's
        // address space only this ring touches it, through `RawRing`.
        let raw = unsafe { RawRing::new(base, layout) };
        raw.init_header();
        Ok(Self {
            layout,
            block,
            order,
            submissions: Mutex::new(SqConsumer::new(raw)),
            completions: Mutex::new(Completions {
                producer: CqProducer::new(raw),
                overflow: LinkedList::new(),
                closed: false,
            }),
            posted: Event::new(),
            inflight: super::inflight::Inflight::default(),
            barrier: Mutex::new(None),
            barrier_up: AtomicBool::new(false),
        })
    }

    /// Queues `sqes` behind the barrier if one is up; `false` if none is.
    pub fn queue_behind_barrier(&self, sqes: &[Sqe]) -> bool {
        // A barrier another thread raises at this moment orders this batch
        // before it, as taking the lock first would have.
        if !self.barrier_up.load(Ordering::Acquire) {
            return false;
        }
        match self.barrier.lock().as_mut() {
            Some(queue) => {
                queue.extend(sqes.iter().copied());
                true
            }
            None => false,
        }
    }

    /// Puts up a barrier with `sqes` (the draining SQE first) behind it.
    pub fn raise_barrier(&self, sqes: &[Sqe]) {
        let mut barrier = self.barrier.lock();
        *barrier = Some(sqes.iter().copied().collect());
        self.barrier_up.store(true, Ordering::Release);
    }

    /// Everything waiting behind the barrier, or `None` (and the barrier
    /// comes down) when nothing is.
    pub fn take_barrier_batch(&self) -> Option<alloc::vec::Vec<Sqe>> {
        let mut barrier = self.barrier.lock();
        match barrier.as_mut() {
            Some(queue) if !queue.is_empty() => Some(queue.drain(..).collect()),
            _ => {
                *barrier = None;
                self.barrier_up.store(false, Ordering::Release);
                None
            }
        }
    }

    /// Puts `sqes` back at the front of the barrier's queue.
    pub fn requeue_behind_barrier(&self, sqes: &[Sqe]) {
        if let Some(queue) = self.barrier.lock().as_mut() {
            for sqe in sqes.iter().rev() {
                queue.push_front(*sqe);
            }
        }
    }

    /// The first frame of the mapping and how many pages it has.
    pub fn frames(&self) -> (PhysAddr, u64) {
        (self.block, self.layout.total_bytes().div_ceil(4096) as u64)
    }

    /// How many SQEs the SQ holds: the most one `ring_enter` takes.
    pub fn sq_entries(&self) -> u32 {
        self.layout.sq_entries()
    }

    pub fn total_bytes(&self) -> usize {
        self.layout.total_bytes()
    }

    /// Copies up to `out.len()` new SQEs, each exactly once; returns them.
    pub fn take_submissions<'a>(
        &self,
        out: &'a mut [MaybeUninit<Sqe>],
    ) -> Result<&'a mut [Sqe], Errno> {
        self.submissions.lock().take_uninit(out)
    }

    /// Posts a CQE, into the CQ or, when it is full, the overflow list.
    pub fn post(&self, cqe: Cqe) {
        self.post_all(core::slice::from_ref(&cqe));
    }

    /// Posts several CQEs under one lock, with one wake-up.
    pub fn post_all(&self, cqes: &[Cqe]) {
        {
            let mut completions = self.completions.lock();
            let overflowed_before = completions.overflow.len();
            Self::flush_locked(&mut completions);
            // In order: nothing overtakes what already waits in the list.
            let posted = if completions.overflow.is_empty() {
                completions.producer.push_all(cqes)
            } else {
                0
            };
            if !completions.closed {
                completions.overflow.extend(&cqes[posted..]);
            }
            if completions.overflow.len() != overflowed_before {
                completions
                    .producer
                    .set_overflow(completions.overflow.len() as u32);
            }
        }
        // A fence and a load when nobody waits (`Event::wake_all`).
        self.posted.wake_all();
    }

    /// Posts a CQE another ring sent (MSG_RING): `EOVERFLOW` when this
    /// ring's overflow list is at its limit, so a process that never reaps
    /// cannot be made to hold CQEs without bound.
    pub fn post_message(&self, cqe: Cqe) -> Result<(), Errno> {
        {
            let mut completions = self.completions.lock();
            Self::flush_locked(&mut completions);
            if completions.overflow.is_empty() && completions.producer.push(&cqe).is_ok() {
                // Posted into the CQ.
            } else if completions.closed {
                return Err(Errno::ESRCH);
            } else if completions.overflow.len() < OVERFLOW_LIMIT {
                completions.overflow.push_back(cqe);
                let count = completions.overflow.len() as u32;
                completions.producer.set_overflow(count);
            } else {
                return Err(Errno::EOVERFLOW);
            }
        }
        self.posted.wake_all();
        Ok(())
    }

    fn flush_locked(completions: &mut Completions) {
        while let Some(cqe) = completions.overflow.front() {
            if completions.producer.push(cqe).is_err() {
                break;
            }
            completions.overflow.pop_front();
        }
    }

    /// The process has ended: its running ops are cancelled, and what
    /// they and anyone else post from now on that does not fit the CQ is
    /// dropped, not kept for a reader that is gone.
    pub fn close(&self) {
        self.inflight.close();
        let mut completions = self.completions.lock();
        completions.closed = true;
        completions.overflow.clear();
    }

    /// Moves overflowed CQEs into the CQ as far as room allows; how many
    /// are still waiting.
    pub fn flush_overflow(&self) -> usize {
        let mut completions = self.completions.lock();
        Self::flush_locked(&mut completions);
        let waiting = completions.overflow.len();
        completions.producer.set_overflow(waiting as u32);
        waiting
    }

    /// CQEs the process has not reaped: in the CQ and in the overflow list.
    pub fn completions_ready(&self) -> usize {
        let completions = self.completions.lock();
        let in_ring = (self.layout.cq_entries() - completions.producer.space()) as usize;
        in_ring + completions.overflow.len()
    }

    /// Whether as many SQEs as the overflow list may hold wait behind an
    /// IO_DRAIN barrier: the kernel would hold more for the process than
    /// it may, so submissions are refused (as when `flush_overflow` leaves
    /// that many CQEs waiting).
    pub fn barrier_full(&self) -> bool {
        self.barrier_up.load(Ordering::Acquire)
            && self
                .barrier
                .lock()
                .as_ref()
                .is_some_and(|queue| queue.len() >= OVERFLOW_LIMIT)
    }

    /// Waits until at least `count` CQEs are ready.
    pub async fn wait_ready(&self, count: usize) {
        self.posted
            .wait_until(|| {
                self.flush_overflow();
                self.completions_ready() >= count
            })
            .await;
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        frames::free(self.block, self.order);
    }
}
