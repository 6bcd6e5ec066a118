//! The halt protocol: how a CPU goes idle without missing a wake.
//!
//! ```text
//!   CPU loop (owner)                        waker (any CPU, or an interrupt)
//!   ----------------                        --------------------------------
//!   run_once() says nothing is ready
//!   enter_idle():
//!     sleeping = true            (SeqCst)   push task to inbox   (SeqCst swap)
//!     re-check inbox, local,     (SeqCst)   if sleeping          (SeqCst load)
//!       steal queues, timers                  and swap(sleeping, false):
//!     work found: sleeping = false,             pend(cpu)        (an IPI)
//!       return None: run again
//!   platform.halt(deadline)  -- kernel: `sti; hlt` with interrupts off
//!                               until then, so a pend sent after the
//!                               re-check arrives as an interrupt that
//!                               ends the hlt
//!   drop(Idle): sleeping = false
//! ```
//!
//! Both sides store, then load the other side's location, all SeqCst, so
//! at least one sees the other (the store-buffering pattern): either the CPU
//! finds the task in its re-check, or the waker finds `sleeping` set and
//! pends.  A waker that clears `sleeping` makes further wakers skip the
//! pend: one IPI per halt at most.  Timers: a timer registered from another
//! CPU with an earlier deadline pends this one the same way (time/), so the
//! deadline handed to `halt` is never later than the earliest timer.

use core::sync::atomic::Ordering;

use super::Executor;

/// Proof that the CPU is in the idle protocol; dropping it leaves.  Hold it
/// across [`Platform::halt`](crate::Platform::halt).
pub struct Idle {
    executor: Executor,
    deadline: Option<u64>,
}

impl Idle {
    /// The earliest timer deadline, to pass to `halt`.
    pub fn deadline(&self) -> Option<u64> {
        self.deadline
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        self.executor.leave_idle();
    }
}

impl Executor {
    /// Announces that this CPU is about to halt, then checks once more for
    /// work.  Returns `None` if there is some (run again), or an [`Idle`]
    /// to hold while halting.  See the module documentation.
    pub fn enter_idle(&self) -> Option<Idle> {
        let me = self.per_cpu();
        let driver = me
            .driver
            .try_lock()
            .unwrap_or_else(|| panic!("enter_idle: executor of CPU {} is running", self.cpu));
        me.sleeping.store(true, Ordering::SeqCst);
        self.runtime.idle_cpus.fetch_add(1, Ordering::SeqCst);

        let now = self.runtime.now();
        let work = me.inbox.has_pending(&driver.cursor)
            || !driver.local.is_empty()
            || !me.steal_queue.is_empty()
            || me
                .timers
                .next_deadline()
                .is_some_and(|deadline| deadline <= now)
            || self.others_have_offers();
        drop(driver);
        if work {
            self.leave_idle();
            return None;
        }
        me.stats.halted();
        Some(Idle {
            executor: *self,
            deadline: me.timers.next_deadline(),
        })
    }

    fn leave_idle(&self) {
        self.per_cpu().sleeping.store(false, Ordering::SeqCst);
        self.runtime.idle_cpus.fetch_sub(1, Ordering::SeqCst);
    }

    /// The CPU loop: run rounds, halt when idle, until `stop()` returns
    /// `true`.  `stop` is checked once per round; to stop a halted CPU, set
    /// what `stop` reads, then [`pend`](crate::Platform::pend) it.
    ///
    /// The kernel's loop has the same shape, with user threads resumed
    /// between rounds.
    pub fn run_until(&self, mut stop: impl FnMut() -> bool) {
        let platform = self.runtime.platform();
        while !stop() {
            let outcome = self.run_once();
            if outcome.more_ready {
                continue;
            }
            if let Some(idle) = self.enter_idle() {
                if stop() {
                    break;
                }
                platform.halt(idle.deadline());
            }
        }
    }
}
