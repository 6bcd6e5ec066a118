//! The reactor: the ring, and which op each `user_data` belongs to.
//!
//! Every op gets a fresh key from [`Slots`] as its `user_data`.  Reaping a
//! CQE looks the key up and moves the op along:
//!
//! ```text
//!            push SQE              CQE reaped           future polled
//!   (new) ────────────▶ Waiting ─────────────▶ Done ───────────────▶ (removed)
//!                          │                                    (cqe, buffers
//!          future dropped  │  + ASYNC_CANCEL pushed               returned)
//!                          ▼
//!                       Orphaned(buffers) ─── CQE reaped ───▶ (removed,
//!                                                              buffers freed)
//! ```
//!
//! An op's buffers live in the op future until its CQE is in; a future
//! dropped before that leaves them here, as `Orphaned`, so the kernel never
//! writes into freed memory.  A CQE whose key names nothing (the cancels'
//! own, with `user_data` 0, or stray ones) is dropped.
#![forbid(unsafe_code)]

use super::slots::Slots;
use crate::ring::Ring;
use abi::{Cqe, Errno, Opcode, Sqe};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::Any;
use core::cell::{Cell, RefCell};
use core::task::{Poll, Waker};

/// The `user_data` of the reactor's ASYNC_CANCELs; no op key is 0.
const CANCEL_USER_DATA: u64 = 0;

enum OpState {
    /// In the kernel; the future waits, with the waker of its last poll.
    Waiting(Option<Waker>),
    /// The CQE is in; the future has not seen it yet.
    Done(Cqe),
    /// The future is gone; these are the buffers the kernel may still use.
    Orphaned(Box<dyn Any>),
}

/// What the reactor has done, for programs that show it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// SQEs queued for ops (cancels not counted).
    pub submitted: u64,
    /// CQEs reaped, cancels' included.
    pub reaped: u64,
    /// `ring_enter` calls that blocked for a completion.
    pub waits: u64,
    /// Of those, calls that returned with no CQE to reap.  Stays 0: a
    /// wait asks the kernel for at least one.
    pub empty_waits: u64,
    /// Ops whose future was dropped in flight, and whose CQE then came.
    pub orphans_reaped: u64,
}

pub(super) struct Reactor {
    ring: RefCell<Ring>,
    ops: RefCell<Slots<OpState>>,
    stats: Cell<Stats>,
}

impl Reactor {
    pub fn new(ring: Ring) -> Self {
        Self {
            ring: RefCell::new(ring),
            ops: RefCell::new(Slots::new()),
            stats: Cell::new(Stats::default()),
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats.get()
    }

    fn count(&self, update: impl FnOnce(&mut Stats)) {
        let mut stats = self.stats.get();
        update(&mut stats);
        self.stats.set(stats);
    }

    /// Queues `sqe` under a fresh key and returns the key.  The kernel sees
    /// it at the next `ring_enter`.
    pub fn push(&self, mut sqe: Sqe) -> Result<u64, Errno> {
        let key = self.ops.borrow_mut().insert(OpState::Waiting(None));
        sqe.user_data = key;
        match self.queue(&sqe) {
            Ok(()) => {
                self.count(|stats| stats.submitted += 1);
                Ok(key)
            }
            Err(errno) => {
                self.ops.borrow_mut().remove(key);
                Err(errno)
            }
        }
    }

    /// Puts `sqe` on the SQ, handing the SQ to the kernel first if full.
    fn queue(&self, sqe: &Sqe) -> Result<(), Errno> {
        let mut ring = self.ring.borrow_mut();
        if ring.push(sqe).is_ok() {
            return Ok(());
        }
        ring.submit()?;
        ring.push(sqe)
    }

    /// The op's CQE if it is in (the op is then forgotten); else records
    /// `waker` to be woken when it comes.
    pub fn poll(&self, key: u64, waker: &Waker) -> Poll<Cqe> {
        let mut ops = self.ops.borrow_mut();
        match ops.get_mut(key) {
            Some(OpState::Waiting(slot)) => {
                if !slot.as_ref().is_some_and(|old| old.will_wake(waker)) {
                    *slot = Some(waker.clone());
                }
                Poll::Pending
            }
            Some(OpState::Done(cqe)) => {
                let cqe = *cqe;
                ops.remove(key);
                Poll::Ready(cqe)
            }
            Some(OpState::Orphaned(_)) | None => {
                unreachable!("op {key:#x} polled without its future")
            }
        }
    }

    /// The op's future is gone before its result was taken.  `buffers`
    /// are what its SQE points at: freed now if the CQE is in, else kept
    /// until it is, while an ASYNC_CANCEL hurries the kernel along.
    pub fn abandon(&self, key: u64, buffers: Box<dyn Any>) {
        let mut ops = self.ops.borrow_mut();
        let Some(state) = ops.get_mut(key) else {
            return;
        };
        if let OpState::Done(_) = state {
            ops.remove(key);
            drop(ops);
            drop(buffers);
            return;
        }
        *state = OpState::Orphaned(buffers);
        drop(ops);
        let cancel = Sqe {
            addr: key,
            user_data: CANCEL_USER_DATA,
            ..Sqe::new(Opcode::AsyncCancel)
        };
        // Without the cancel (the SQ full even after a submit), the op
        // just runs its course; its buffers wait all the same.
        let _ = self.queue(&cancel);
    }

    /// Takes every CQE the kernel has posted, without entering the kernel,
    /// and wakes the ops' tasks.  Returns how many there were.
    pub fn reap(&self) -> usize {
        let mut wakers = Vec::new();
        let mut freed: Vec<Box<dyn Any>> = Vec::new();
        let mut reaped = 0;
        let mut orphans = 0;
        {
            let mut ring = self.ring.borrow_mut();
            let mut ops = self.ops.borrow_mut();
            while let Some(cqe) = ring.pop() {
                reaped += 1;
                let key = cqe.user_data;
                match ops.get_mut(key) {
                    Some(state @ OpState::Waiting(_)) => {
                        if let OpState::Waiting(Some(waker)) =
                            core::mem::replace(state, OpState::Done(cqe))
                        {
                            wakers.push(waker);
                        }
                    }
                    Some(OpState::Orphaned(_)) => {
                        if let Some(OpState::Orphaned(buffers)) = ops.remove(key) {
                            freed.push(buffers);
                            orphans += 1;
                        }
                    }
                    // A second CQE for a done op, a cancel's, or a stray.
                    Some(OpState::Done(_)) | None => {}
                }
            }
        }
        self.count(|stats| {
            stats.reaped += reaped as u64;
            stats.orphans_reaped += orphans;
        });
        // Outside the borrows: a waker or a buffer's drop may call back in.
        drop(freed);
        wakers.into_iter().for_each(Waker::wake);
        reaped
    }

    /// Hands queued SQEs to the kernel without waiting.
    pub fn submit(&self) {
        let mut ring = self.ring.borrow_mut();
        if ring.unsubmitted() > 0 {
            // A refusal (EBUSY: the kernel's overflow list is full) is
            // retried by the next `wait`, after the next reap.
            let _ = ring.submit();
        }
    }

    /// Submits what is queued and blocks in the kernel until at least one
    /// CQE is posted, then reaps.
    pub fn wait(&self) {
        let result = self.ring.borrow_mut().submit_and_wait(1);
        match result {
            Ok(_) => {
                self.count(|stats| stats.waits += 1);
                if self.reap() == 0 {
                    self.count(|stats| stats.empty_waits += 1);
                }
            }
            // The CQ overflowed and the kernel's list is full, so it took
            // nothing and did not wait: reaping makes room for the next.
            Err(Errno::EBUSY) => {
                self.reap();
            }
            Err(errno) => panic!("ring_enter failed: {errno}"),
        }
    }

    /// Ops the kernel still holds, orphaned ones included.
    pub fn in_flight(&self) -> usize {
        self.ops
            .borrow()
            .values()
            .filter(|state| !matches!(state, OpState::Done(_)))
            .count()
    }

    pub fn orphans(&self) -> usize {
        self.ops
            .borrow()
            .values()
            .filter(|state| matches!(state, OpState::Orphaned(_)))
            .count()
    }
}

impl Drop for Reactor {
    /// Op futures hold the reactor, so only orphans are left.  Their cancels
    /// go to the kernel, and their buffers are leaked: the kernel may write
    /// into them until their CQEs come, which no one will reap now.
    fn drop(&mut self) {
        self.submit();
        for state in self.ops.get_mut().drain() {
            if let OpState::Orphaned(buffers) = state {
                core::mem::forget(buffers);
            }
        }
    }
}
