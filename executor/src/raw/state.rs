//! The task state word and its transitions.
//!
//! One `AtomicUsize` of flag bits, changed only by compare-and-swap loops in
//! this file, so every transition in the diagram below is a single atomic
//! step.  Reference counting is a separate word (`header.rs`): the flags say
//! what the task is doing, the count says who can still reach it.
//!
//! ```text
//!                      spawn
//!                        |
//!                        v
//!   wake / abort   +-----------+  executor pops it: clear SCHEDULED,
//!  +-------------->| SCHEDULED |  set RUNNING
//!  |               +-----------+---------------+
//!  |                     ^                     v
//!  |       requeue: it   |              +-----------+  wake while running:
//!  |       was woken     +--------------|  RUNNING  |  set SCHEDULED too,
//!  |       while running                +-----------+  the executor requeues
//!  |                                   /     |     \
//!  |                         Pending  /      |      \  CLOSED seen (abort)
//!  |                                 v       |       v  before or after poll
//!  |                     +-----------+       |      +----------------------+
//!  +---------------------|   IDLE    |       |      | COMPLETE | CANCELLED |
//!                        +-----------+       |      +----------------------+
//!                                            v Ready     future dropped,
//!                                     +-----------+      no output
//!                                     | COMPLETE  |
//!                                     +-----------+
//!                                      output stored
//!
//!   IDLE = no flag set.  CLOSED is sticky: set by abort() on any state
//!   before COMPLETE; an idle task is also made SCHEDULED so its executor
//!   gets to drop the future.  REAP is set on a task whose last reference
//!   was dropped off the executor; it then travels to its owner only to be
//!   freed (see `header.rs`).
//! ```
//!
//! Invariants the rest of `raw/` relies on:
//! - a task is in at most one run queue at a time: only the transition that
//!   *sets* SCHEDULED on a task that is neither SCHEDULED nor RUNNING
//!   enqueues it, and the queue holds one reference for it;
//! - only the executor that cleared SCHEDULED and set RUNNING touches the
//!   future, until it clears RUNNING;
//! - after COMPLETE the future is gone and no executor touches the stage;
//!   the join handle alone may take the output.

use core::sync::atomic::{AtomicUsize, Ordering};

/// In a run queue, or woken while running (the executor will requeue it).
pub(crate) const SCHEDULED: usize = 1 << 0;
/// An executor is polling or cancelling the future.
pub(crate) const RUNNING: usize = 1 << 1;
/// The future is gone: the output is stored, or it was cancelled.
pub(crate) const COMPLETE: usize = 1 << 2;
/// `abort()` was called: drop the future at the next chance.
pub(crate) const CLOSED: usize = 1 << 3;
/// Completed by cancellation: there is no output.
pub(crate) const CANCELLED: usize = 1 << 4;
/// The last reference is gone; the task is queued only to be freed.
pub(crate) const REAP: usize = 1 << 5;

/// What the executor does with a task whose poll returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterPending {
    /// Nothing woke it: it is IDLE now; drop the queue's reference.
    Idle,
    /// It was woken while running: it stays SCHEDULED; requeue it.
    Requeue,
    /// It was aborted: drop the future, then [`State::complete`] it.
    Cancel,
}

/// The atomic flag word of one task.
pub(crate) struct State(AtomicUsize);

impl State {
    /// A freshly spawned task: already SCHEDULED, since spawn queues it.
    pub(crate) const fn new_scheduled() -> Self {
        Self(AtomicUsize::new(SCHEDULED))
    }

    pub(crate) fn load(&self, order: Ordering) -> usize {
        self.0.load(order)
    }

    /// Applies `f` until the CAS succeeds; returns the old value.  `f`
    /// returns `None` to leave the state unchanged.  AcqRel: every
    /// transition both publishes what its thread did to the task (the
    /// stage, `owner`) and sees what the previous holder did.
    fn update(&self, mut f: impl FnMut(usize) -> Option<usize>) -> Result<usize, usize> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, &mut f)
    }

    /// A wake.  Returns `true` if the caller must enqueue the task (with a
    /// reference of its own for the queue).
    ///
    /// Always a write, even when the task is already SCHEDULED and nothing
    /// changes.  A wake promises a poll that sees what the waker did before
    /// it, and that poll comes after the executor's `start_run` (or
    /// `end_pending`) RMW.  Only a Release *write* here, which that RMW
    /// then reads, carries the waker's earlier stores to it.  A plain load
    /// would leave the store-buffering pattern (waker: store value, load
    /// state; executor: RMW state, load value) in which both miss, even on
    /// x86: the value stays in the waker's store buffer while the executor
    /// polls, and the task goes idle with the wake lost.  Test:
    /// `a_wake_that_finds_the_task_scheduled_still_publishes_what_came_before`.
    pub(crate) fn wake(&self) -> bool {
        let old = self
            .update(|s| {
                if s & (COMPLETE | SCHEDULED) != 0 {
                    // Same value: the CAS still orders this wake.
                    Some(s)
                } else {
                    Some(s | SCHEDULED)
                }
            })
            .unwrap_or_else(|s| s);
        // Running tasks are requeued by their executor, not by the waker.
        old & (COMPLETE | SCHEDULED | RUNNING) == 0
    }

    /// `abort()`.  Returns `true` if the caller must enqueue the task so its
    /// executor drops the future.
    pub(crate) fn abort(&self) -> bool {
        let old = self.update(|s| {
            if s & (COMPLETE | CLOSED) != 0 {
                None
            } else if s & (RUNNING | SCHEDULED) != 0 {
                // Its executor sees CLOSED when it pops it or after the poll.
                Some(s | CLOSED)
            } else {
                Some(s | CLOSED | SCHEDULED)
            }
        });
        matches!(old, Ok(s) if s & (RUNNING | SCHEDULED) == 0)
    }

    /// The executor popped the task: SCHEDULED -> RUNNING.  Returns the new
    /// state, so the caller can see CLOSED.
    pub(crate) fn start_run(&self) -> usize {
        let old = self
            .update(|s| {
                debug_assert!(s & SCHEDULED != 0 && s & (RUNNING | COMPLETE) == 0);
                Some((s & !SCHEDULED) | RUNNING)
            })
            .unwrap_or_else(|s| s);
        (old & !SCHEDULED) | RUNNING
    }

    /// The poll returned `Pending`: RUNNING -> IDLE, or stay SCHEDULED.
    pub(crate) fn end_pending(&self) -> AfterPending {
        let mut action = AfterPending::Idle;
        let _ = self.update(|s| {
            debug_assert!(s & RUNNING != 0);
            if s & CLOSED != 0 {
                action = AfterPending::Cancel;
                None
            } else if s & SCHEDULED != 0 {
                action = AfterPending::Requeue;
                Some(s & !RUNNING)
            } else {
                action = AfterPending::Idle;
                Some(s & !RUNNING)
            }
        });
        action
    }

    /// RUNNING -> COMPLETE (with CANCELLED if `cancelled`).  A wake that
    /// raced in (SCHEDULED) is dropped: there is nothing left to poll, and
    /// such a wake took no queue reference.
    pub(crate) fn complete(&self, cancelled: bool) {
        let extra = if cancelled { CANCELLED } else { 0 };
        let _ = self.update(|s| {
            debug_assert!(s & RUNNING != 0);
            Some((s & !(RUNNING | SCHEDULED)) | COMPLETE | extra)
        });
    }

    /// Marks a task that nobody references any more, before it is queued to
    /// be freed.
    pub(crate) fn mark_reap(&self) {
        self.0.fetch_or(REAP, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_while_running_requeues_and_completes_cleanly() {
        let st = State::new_scheduled();
        assert!(!st.wake(), "already scheduled: no second enqueue");
        assert_eq!(st.start_run() & (RUNNING | SCHEDULED), RUNNING);
        assert!(!st.wake(), "running: the executor requeues, not the waker");
        assert_eq!(st.end_pending(), AfterPending::Requeue);
        st.start_run();
        assert_eq!(st.end_pending(), AfterPending::Idle);
        assert!(st.wake(), "idle: the waker enqueues");
        st.start_run();
        st.complete(false);
        assert!(!st.wake(), "complete: never scheduled again");
        assert!(!st.abort(), "complete: abort is a no-op");
        assert_eq!(st.load(Ordering::Relaxed), COMPLETE);
    }

    #[test]
    fn abort_of_idle_task_schedules_it_once() {
        let st = State::new_scheduled();
        st.start_run();
        assert_eq!(st.end_pending(), AfterPending::Idle);
        assert!(st.abort());
        assert!(!st.abort());
        assert!(!st.wake());
        assert!(st.start_run() & CLOSED != 0);
    }
}
