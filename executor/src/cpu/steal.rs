//! Work stealing between CPUs, for tasks not pinned by `spawn_on`.
//!
//! A busy CPU with leftover ready tasks, at the end of a round in which some
//! CPU is idle, moves a run of stealable tasks from the front of its local
//! queue into its bounded steal queue (an `ArrayQueue`) and pends idle CPUs.
//! An idle CPU with nothing of its own pops from other CPUs' steal queues
//! and becomes the tasks' owner: their wakes go to its inbox from then on.
//! The steal queue is the front of the owner's own line (run.rs), so the
//! owner keeps running offered tasks in order if nobody takes them, and an
//! offer never costs a task its place.  Stealing is only ever an
//! optimisation: if nobody steals, the owner runs everything itself.

use core::sync::atomic::{Ordering, fence};

use crate::raw::LocalQueue;

use super::Executor;

impl Executor {
    /// Offers leftover stealable tasks to thieves if some CPU is idle.
    pub(super) fn offer(&self, local: &mut LocalQueue) {
        let runtime = self.runtime;
        if runtime.idle_cpus.load(Ordering::Relaxed) == 0 {
            return;
        }
        let me = self.per_cpu();
        let room = me.steal_queue.capacity() - me.steal_queue.len();
        let mut want = (local.len() / 2).min(room);
        let mut offered: usize = 0;
        // A contiguous run from the front of the local queue onto the back
        // of the steal queue: the line (steal queue, then local) keeps its
        // order.
        while want > 0 {
            let Some(task) = local.pop_front() else { break };
            if task.header().pinned {
                local.push_front(task);
                break;
            }
            match me.steal_queue.push(task) {
                Ok(()) => offered += 1,
                Err(task) => {
                    local.push_front(task);
                    break;
                }
            }
            want -= 1;
        }
        if offered > 0 {
            self.pend_idle_cpus(offered.div_ceil(runtime.config().steal_batch));
        }
    }

    /// Pends up to `count` CPUs that announced they are halting, so they
    /// come to steal.
    fn pend_idle_cpus(&self, mut count: usize) {
        // SeqCst fence: the offers above are visible to a CPU that we see
        // sleeping, or that CPU sees them in its own re-check (idle.rs).
        fence(Ordering::SeqCst);
        let cpus = self.runtime.cpus();
        for step in 1..cpus.len() {
            if count == 0 {
                return;
            }
            let thief = &cpus[(self.cpu + step) % cpus.len()];
            if thief.sleeping.load(Ordering::SeqCst) {
                self.runtime.notify(thief.index);
                count -= 1;
            }
        }
    }

    /// Steals from the first CPU, after this one, that has offers; returns
    /// how many tasks it took (half the victim's offers, at most
    /// `steal_batch`).
    pub(super) fn steal(&self, local: &mut LocalQueue) -> usize {
        let cpus = self.runtime.cpus();
        let batch = self.runtime.config().steal_batch;
        for step in 1..cpus.len() {
            let victim = &cpus[(self.cpu + step) % cpus.len()];
            let available = victim.steal_queue.len();
            if available == 0 {
                continue;
            }
            let mut stolen = 0;
            while stolen < available.div_ceil(2).min(batch) {
                let Some(task) = victim.steal_queue.pop() else {
                    break;
                };
                // We hold the task while it is SCHEDULED, the one moment
                // its owner may change (header.rs).
                task.header().set_owner(self.cpu);
                local.push_back(task);
                stolen += 1;
            }
            if stolen > 0 {
                self.per_cpu().stats.stole(stolen);
                return stolen;
            }
        }
        0
    }

    /// Whether another CPU has offers this one could steal.
    pub(super) fn others_have_offers(&self) -> bool {
        self.runtime
            .cpus()
            .iter()
            .any(|cpu| cpu.index != self.cpu && !cpu.steal_queue.is_empty())
    }
}
