//! Per-CPU run queues with stealing, generic over what they hold so the
//! host can hammer them with plain integers (`cargo test`).
//!
//! A CPU takes from the front of its own queue; when that is empty it
//! steals from the back of the others'.  **At most one queue lock is held
//! at a time**: two CPUs stealing from each other while holding their own
//! queue's lock deadlock (it happened at 8 CPUs, in 2 boots of 24), and the
//! host test below runs that pattern from several threads.
//!
//! A count of queued items lets an idle CPU skip every lock when nothing is
//! queued (the common case: the CPU loop asks on every turn).  The caller
//! makes sure a CPU that was queued to is woken and checks again before
//! halting, so an item queued after the count was read is not missed.

use alloc::collections::VecDeque;
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::Mutex;

pub struct RunQueues<T, const CPUS: usize> {
    queues: [Mutex<VecDeque<T>>; CPUS],
    queued: AtomicUsize,
}

impl<T, const CPUS: usize> Default for RunQueues<T, CPUS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const CPUS: usize> RunQueues<T, CPUS> {
    pub const fn new() -> Self {
        Self {
            queues: [const { Mutex::new(VecDeque::new()) }; CPUS],
            queued: AtomicUsize::new(0),
        }
    }

    /// Gives each of the first `cpus` queues room for [`ROOM`] items, at
    /// boot: a queue then always has exactly that room when it is empty
    /// (see [`take`]), however busy it was, and the leak checks can compare
    /// the heap exactly before and after a test.
    pub fn reserve(&self, cpus: usize) {
        for queue in &self.queues[..cpus] {
            let mut queue = queue.lock();
            let len = queue.len();
            queue.reserve_exact(ROOM.saturating_sub(len));
        }
    }

    /// Queues `item` at the back of `cpu`'s queue.
    pub fn push(&self, cpu: usize, item: T) {
        self.queues[cpu].lock().push_back(item);
        self.queued.fetch_add(1, Ordering::AcqRel);
    }

    /// The next item for `cpu`: the front of its own queue, else the back
    /// of another's (among the first `cpus` queues).
    pub fn pop(&self, cpu: usize, cpus: usize) -> Option<T> {
        if self.queued.load(Ordering::Acquire) == 0 {
            return None;
        }
        // Two statements, not one chain: a guard made inside a `let` lives
        // to the statement's end, so `queues[cpu].lock().pop_front()
        // .or_else(..)` would hold this queue while locking the others.
        let own = take(&mut self.queues[cpu].lock(), VecDeque::pop_front);
        let item = own.or_else(|| {
            (1..cpus).find_map(|step| {
                take(
                    &mut self.queues[(cpu + step) % cpus].lock(),
                    VecDeque::pop_back,
                )
            })
        })?;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        Some(item)
    }

    /// Items queued on every CPU.
    pub fn len(&self) -> usize {
        self.queues.iter().map(|queue| queue.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Takes an item from `queue` with `how`, and gives back the queue's spare
/// room once it is mostly empty: a burst of 10,000 runnable threads leaves
/// nothing behind on the heap when it is over.
fn take<T>(queue: &mut VecDeque<T>, how: fn(&mut VecDeque<T>) -> Option<T>) -> Option<T> {
    let item = how(queue);
    if queue.capacity() > ROOM && queue.len() < queue.capacity() / 4 {
        queue.shrink_to((queue.len() * 2).max(ROOM));
    }
    item
}

/// The room a queue keeps when it empties.
const ROOM: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn own_queue_first_in_order_then_steal_from_the_back() {
        let queues: RunQueues<u32, 4> = RunQueues::new();
        queues.push(0, 1);
        queues.push(0, 2);
        queues.push(2, 3);
        queues.push(2, 4);
        assert_eq!(queues.pop(0, 4), Some(1));
        assert_eq!(queues.pop(0, 4), Some(2));
        assert_eq!(queues.pop(0, 4), Some(4), "steals the back of CPU 2's");
        assert_eq!(queues.pop(2, 4), Some(3));
        assert_eq!(queues.pop(1, 4), None);
        assert!(queues.is_empty());
    }

    #[test]
    fn a_burst_gives_its_room_back() {
        let queues: RunQueues<u32, 1> = RunQueues::new();
        for item in 0..10_000 {
            queues.push(0, item);
        }
        while queues.pop(0, 1).is_some() {}
        assert_eq!(queues.queues[0].lock().capacity(), ROOM);
    }

    /// Every thread pushes onto every queue and pops as its own CPU (which
    /// steals from all the others): the pattern that deadlocked when a
    /// stealer held its own queue's lock.  It must finish with every item
    /// taken exactly once.
    #[test]
    fn cpus_stealing_from_each_other_neither_deadlock_nor_lose_items() {
        const CPUS: usize = 4;
        const ITEMS: u64 = 50_000;
        let queues: Arc<RunQueues<u64, CPUS>> = Arc::new(RunQueues::new());
        let taken = Arc::new(AtomicU64::new(0));
        let sum = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = (0..CPUS)
            .map(|cpu| {
                let (queues, taken, sum) = (queues.clone(), taken.clone(), sum.clone());
                std::thread::spawn(move || {
                    for n in 0..ITEMS {
                        // Onto another CPU's queue, then two pops: the
                        // own queue runs dry, and the pops steal.
                        queues.push((cpu + 1 + n as usize % (CPUS - 1)) % CPUS, n);
                        for _ in 0..2 {
                            if let Some(item) = queues.pop(cpu, CPUS) {
                                taken.fetch_add(1, Ordering::Relaxed);
                                sum.fetch_add(item, Ordering::Relaxed);
                            }
                        }
                    }
                    while let Some(item) = queues.pop(cpu, CPUS) {
                        taken.fetch_add(1, Ordering::Relaxed);
                        sum.fetch_add(item, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // A deadlock fails the test instead of hanging it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        for worker in workers {
            while !worker.is_finished() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the run queues deadlocked"
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            worker.join().unwrap();
        }
        while let Some(item) = queues.pop(0, CPUS) {
            taken.fetch_add(1, Ordering::Relaxed);
            sum.fetch_add(item, Ordering::Relaxed);
        }
        assert_eq!(taken.load(Ordering::Relaxed), CPUS as u64 * ITEMS);
        assert_eq!(
            sum.load(Ordering::Relaxed),
            CPUS as u64 * (ITEMS * (ITEMS - 1) / 2)
        );
    }
}
