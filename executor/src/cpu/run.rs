//! The scheduling round: [`Executor::run_once`].
//!
//! # One round
//!
//! The ready tasks of a CPU form one FIFO line: its steal queue (tasks
//! offered to thieves, the front of the line) followed by its local queue.
//!
//! 1. Fire expired timers (their wakes land in the inbox).
//! 2. Drain the inbox to the back of the local queue.
//! 3. If nothing is ready, steal from another CPU.
//! 4. Poll at most `min(ready at this point, poll_budget)` tasks from the
//!    front of the line.  A task woken while it runs goes to the back; a
//!    task woken by another task goes to the inbox.  Either way it is not
//!    polled again this round.
//! 5. If tasks are left over and some CPU is idle, move a run of them from
//!    the front of the local queue to the back of the steal queue (which
//!    keeps the line's order) and pend idle CPUs to come and take them.
//!
//! # Fairness guarantee
//!
//! The line is FIFO and every task is polled at most once per round, so a
//! task that keeps waking itself only gets back in line: with `k`
//! tasks ahead of it, a ready task is polled within `ceil((k + 1) /
//! poll_budget)` rounds of its CPU (sooner if a thief takes it).  And a
//! round does at most `poll_budget` polls, so the CPU loop gets control back
//! (timers, user threads, halting) after a bounded number of polls, however
//! busy the tasks are.

use crate::context;
use crate::raw::Ran;

use super::{Executor, RunOutcome};

impl Executor {
    /// Runs one scheduling round (see the module documentation).
    ///
    /// The kernel's CPU loop calls this, then either calls it again
    /// (`more_ready`), runs user threads, or halts through
    /// [`enter_idle`](Executor::enter_idle).
    ///
    /// # Panics
    ///
    /// If this executor is already running: called from inside one of its
    /// tasks, or from two CPUs.
    pub fn run_once(&self) -> RunOutcome {
        let me = self.per_cpu();
        let mut driver = me.driver.try_lock().unwrap_or_else(|| {
            panic!(
                "executor of CPU {} is already running (run_once re-entered from a task, \
                 or driven from two CPUs)",
                self.cpu
            )
        });
        context::enter(self.runtime);
        let config = *self.runtime.config();

        let timers_fired = me.timers.fire_expired(self.runtime.now());
        me.stats.fired(timers_fired);
        let driver = &mut *driver;
        let mut busy_inbox = driver.local.drain_inbox(&me.inbox, &mut driver.cursor);
        let stolen = if driver.local.is_empty() {
            self.steal(&mut driver.local)
        } else {
            0
        };

        let budget = (me.steal_queue.len() + driver.local.len()).min(config.poll_budget);
        let mut polled = 0;
        while polled < budget {
            // Thieves may empty the steal queue under our feet; fine.
            let Some(task) = me.steal_queue.pop().or_else(|| driver.local.pop_front()) else {
                break;
            };
            if let Ran::Requeue(task) = task.run() {
                driver.local.push_back(task);
            }
            polled += 1;
        }
        me.stats.polled(polled);

        if !driver.local.is_empty() {
            self.offer(&mut driver.local);
        }
        busy_inbox |= me.inbox.has_pending(&driver.cursor);
        RunOutcome {
            polled,
            stolen,
            timers_fired,
            next_deadline: me.timers.next_deadline(),
            more_ready: busy_inbox || !driver.local.is_empty() || !me.steal_queue.is_empty(),
        }
    }

    /// Runs rounds until no task is ready (timers may still be pending).
    /// For host code that drives an executor by hand; returns the number of
    /// polls.
    pub fn run_until_idle(&self) -> usize {
        let mut polled = 0;
        loop {
            let outcome = self.run_once();
            polled += outcome.polled;
            if !outcome.more_ready {
                return polled;
            }
        }
    }
}
