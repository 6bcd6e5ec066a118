//! [`Executor`]: the handle a CPU loop holds on its own executor, and the
//! [`RunOutcome`] of one scheduling round.

use crate::runtime::Runtime;
use crate::stats::ExecutorStats;

use super::PerCpu;

/// One CPU's executor, as seen by that CPU's loop.  A cheap copyable handle
/// (runtime pointer + CPU index).
///
/// Only the CPU it belongs to may call [`run_once`](Executor::run_once) and
/// [`enter_idle`](Executor::enter_idle); doing it from two CPUs at once, or
/// from inside a task, panics.
#[derive(Clone, Copy)]
pub struct Executor {
    pub(super) runtime: &'static Runtime,
    pub(super) cpu: usize,
}

/// What one [`Executor::run_once`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunOutcome {
    /// Tasks polled (or cancelled) this round.
    pub polled: usize,
    /// Tasks taken from other CPUs this round.
    pub stolen: usize,
    /// Expired timers fired this round.
    pub timers_fired: usize,
    /// The earliest pending timer on this CPU, for programming the
    /// hardware timer.
    pub next_deadline: Option<u64>,
    /// Work is already waiting: call `run_once` again instead of halting.
    pub more_ready: bool,
}

impl Executor {
    pub(crate) fn new(runtime: &'static Runtime, cpu: usize) -> Self {
        Self { runtime, cpu }
    }

    pub fn cpu(&self) -> usize {
        self.cpu
    }

    pub fn runtime(&self) -> &'static Runtime {
        self.runtime
    }

    /// This CPU's counters.
    pub fn stats(&self) -> ExecutorStats {
        self.per_cpu().stats.snapshot()
    }

    pub(super) fn per_cpu(&self) -> &'static PerCpu {
        self.runtime.cpu(self.cpu)
    }
}
