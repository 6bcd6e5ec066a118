//! [`PerCpu`]: the queues, timers and flags of one CPU's executor.
//!
//! Who touches what:
//! - `inbox`: pushed by anyone (wakes, spawns), drained by the owner;
//! - `driver`: the owner only, inside `run_once` / `enter_idle`; its lock
//!   is never contended, it turns "two CPUs drive one executor" (or a task
//!   re-entering `run_once`) into a clean panic;
//! - `steal_queue`: pushed and popped by the owner (the front of its line),
//!   popped by thieves;
//! - `timers`: registered from any CPU, fired by the owner;
//! - `sleeping`: set by the owner before it halts, cleared by whoever pends
//!   it.

use core::sync::atomic::AtomicBool;

use crossbeam_queue::ArrayQueue;

use crate::raw::{Inbox, InboxCursor, LocalQueue, TaskRef};
use crate::stats::Counters;
use crate::sync::SpinLock;
use crate::time::TimerQueue;

/// State only the owning CPU's executor touches.
pub(crate) struct Driver {
    pub(crate) cursor: InboxCursor,
    pub(crate) local: LocalQueue,
}

/// One CPU's executor state.  Aligned so that CPUs do not share cache
/// lines.
#[repr(align(128))]
pub(crate) struct PerCpu {
    pub(crate) index: usize,
    pub(crate) inbox: Inbox,
    pub(crate) driver: SpinLock<Driver>,
    /// Ready stealable tasks offered to idle CPUs: the front of this CPU's
    /// line of ready tasks (cpu/run.rs).  Bounded, and allocation-free
    /// after creation.
    pub(crate) steal_queue: ArrayQueue<TaskRef>,
    pub(crate) timers: TimerQueue,
    /// The owner is in the idle protocol and may be halted.
    pub(crate) sleeping: AtomicBool,
    pub(crate) stats: Counters,
}

impl PerCpu {
    pub(crate) fn new(index: usize, steal_queue_capacity: usize) -> Self {
        Self {
            index,
            inbox: Inbox::new(),
            driver: SpinLock::new(Driver {
                cursor: InboxCursor::unset(),
                local: LocalQueue::new(),
            }),
            steal_queue: ArrayQueue::new(steal_queue_capacity),
            timers: TimerQueue::new(),
            sleeping: AtomicBool::new(false),
            stats: Counters::default(),
        }
    }

    /// Links the inbox to its stub; once, when `self` has its final address.
    pub(crate) fn init(&self) {
        self.driver.lock().cursor = self.inbox.init();
    }
}
