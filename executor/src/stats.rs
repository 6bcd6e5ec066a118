//! Per-CPU counters, for the kernel's accounting and for leak tests.
//!
//! Counters only the owning CPU's executor changes are bumped with a plain
//! load and store (no locked instruction on the hot path); those any CPU
//! changes (spawns, frees) use `fetch_add`.  All Relaxed: they order
//! nothing, and a reader gets a snapshot that is exact once the system is
//! quiet.

use core::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of one CPU's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecutorStats {
    /// Polls of task futures (cancellations not included).
    pub polls: u64,
    /// Tasks this CPU took from other CPUs' steal queues.
    pub tasks_stolen: u64,
    /// Tasks spawned with this CPU as first owner.
    pub spawned: u64,
    /// Task allocations freed, counted at the CPU that owned them last.
    pub freed: u64,
    /// Expired timers this CPU fired.
    pub timers_fired: u64,
    /// Times this CPU entered the idle state to halt.
    pub halts: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    polls: AtomicU64,
    tasks_stolen: AtomicU64,
    spawned: AtomicU64,
    freed: AtomicU64,
    timers_fired: AtomicU64,
    halts: AtomicU64,
}

/// Adds `n` to a counter only one thread writes.
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

impl Counters {
    /// Owner only.
    pub(crate) fn polled(&self, n: usize) {
        bump(&self.polls, n as u64);
    }

    /// Owner only.
    pub(crate) fn stole(&self, n: usize) {
        bump(&self.tasks_stolen, n as u64);
    }

    /// Owner only.
    pub(crate) fn fired(&self, n: usize) {
        bump(&self.timers_fired, n as u64);
    }

    /// Owner only.
    pub(crate) fn halted(&self) {
        bump(&self.halts, 1);
    }

    pub(crate) fn spawned(&self) {
        self.spawned.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn freed(&self) {
        self.freed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ExecutorStats {
        ExecutorStats {
            polls: self.polls.load(Ordering::Relaxed),
            tasks_stolen: self.tasks_stolen.load(Ordering::Relaxed),
            spawned: self.spawned.load(Ordering::Relaxed),
            freed: self.freed.load(Ordering::Relaxed),
            timers_fired: self.timers_fired.load(Ordering::Relaxed),
            halts: self.halts.load(Ordering::Relaxed),
        }
    }
}
