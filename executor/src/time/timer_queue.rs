//! [`TimerQueue`]: one CPU's pending timers, ordered by (deadline,
//! registration number).
//!
//! A `BTreeMap` under a spin lock: ordered iteration gives deadline order,
//! and removing a cancelled timer is a keyed delete, so cancelled sleeps
//! leave nothing behind.  The lock is taken only from task context (a
//! `Sleep` being polled or dropped, on any CPU) and by the owner's round;
//! never from an interrupt handler, and never while waking anything.
//!
//! `next` caches the earliest deadline so the round and the idle check can
//! skip the lock.  It is written under the lock and read SeqCst, because a
//! timer registered from another CPU takes part in the halt protocol
//! (cpu/idle.rs): the registrar stores `next`, then looks at `sleeping`.
#![forbid(unsafe_code)]

use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::Waker;

use crate::sync::SpinLock;

/// Identifies one registered timer within its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey {
    deadline: u64,
    seq: u64,
}

struct Timers {
    map: BTreeMap<TimerKey, Waker>,
    next_seq: u64,
}

/// `next` when no timer is pending.
const NONE: u64 = u64::MAX;

pub(crate) struct TimerQueue {
    timers: SpinLock<Timers>,
    next: AtomicU64,
}

impl TimerQueue {
    pub(crate) const fn new() -> Self {
        Self {
            timers: SpinLock::new(Timers {
                map: BTreeMap::new(),
                next_seq: 0,
            }),
            next: AtomicU64::new(NONE),
        }
    }

    /// Caches the earliest deadline; an emptied map also gives back the
    /// node a `BTreeMap` keeps when its last entry goes, so a CPU's idle
    /// timer queue holds no memory (the kernel's leak checks compare the
    /// heap exactly before and after a test).
    fn refresh_next(&self, timers: &mut Timers) {
        if timers.map.is_empty() {
            timers.map = BTreeMap::new();
        }
        let next = timers
            .map
            .first_key_value()
            .map_or(NONE, |(key, _)| key.deadline);
        self.next.store(next, Ordering::SeqCst);
    }

    /// The earliest pending deadline.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        let next = self.next.load(Ordering::SeqCst);
        (next != NONE).then_some(next)
    }

    /// Registers `waker` to be woken at `deadline`.  Returns its key, and
    /// whether it is now the earliest timer (the owner may need a pend).
    pub(crate) fn insert(&self, deadline: u64, waker: Waker) -> (TimerKey, bool) {
        let mut timers = self.timers.lock();
        let key = TimerKey {
            deadline,
            seq: timers.next_seq,
        };
        timers.next_seq += 1;
        timers.map.insert(key, waker);
        let earliest = timers
            .map
            .first_key_value()
            .is_some_and(|(first, _)| *first == key);
        self.refresh_next(&mut timers);
        (key, earliest)
    }

    /// Replaces the waker of a pending timer.  Returns `false` if it has
    /// fired (or was removed) meanwhile.
    pub(crate) fn update(&self, key: TimerKey, waker: &Waker) -> bool {
        let mut timers = self.timers.lock();
        let Some(slot) = timers.map.get_mut(&key) else {
            return false;
        };
        if slot.will_wake(waker) {
            return true;
        }
        let old = core::mem::replace(slot, waker.clone());
        drop(timers);
        // Dropped after unlocking: a waker's drop runs foreign code.
        drop(old);
        true
    }

    /// Cancels a timer, if it has not fired.
    pub(crate) fn remove(&self, key: TimerKey) {
        let mut timers = self.timers.lock();
        let old = timers.map.remove(&key);
        if old.is_some() {
            self.refresh_next(&mut timers);
        }
        drop(timers);
        drop(old);
    }

    /// Wakes every timer whose deadline is `<= now`, earliest first, and
    /// returns how many.  Wakes with the lock released, so a woken waker
    /// may register timers here again.
    pub(crate) fn fire_expired(&self, now: u64) -> usize {
        let mut fired = 0;
        while self.next.load(Ordering::SeqCst) <= now {
            let mut timers = self.timers.lock();
            let expired = match timers.map.first_entry() {
                Some(entry) if entry.key().deadline <= now => Some(entry.remove()),
                _ => None,
            };
            self.refresh_next(&mut timers);
            drop(timers);
            let Some(waker) = expired else { break };
            waker.wake();
            fired += 1;
        }
        fired
    }
}
