//! [`StdPlatform`]: threads as CPUs, `Instant` as the clock, park/unpark as
//! halt/pend.
//!
//! `halt` polls a per-CPU "pended" flag for a few microseconds before it
//! parks, yielding the host CPU between looks.  A real `hlt` wakes within a
//! microsecond of an IPI, while a parked thread takes a futex wake and a
//! trip through the OS scheduler (tens of microseconds, much more on a
//! loaded VM); the short wait keeps host timings closer to the machine's,
//! and `unpark` of a thread that is not parked costs no system call.
//! Yielding rather than spinning matters when the host has fewer cores than
//! the runtime has CPUs: the thread we wait for may need our core.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::platform::Platform;

std::thread_local! {
    /// (platform address, CPU index) of the CPU this thread is, if any.
    static CPU: Cell<(usize, usize)> = const { Cell::new((0, usize::MAX)) };
}

/// How long `halt` polls before it parks.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(30);

struct Cpu {
    thread: OnceLock<Thread>,
    pended: AtomicBool,
}

/// Host threads as CPUs.
pub struct StdPlatform {
    epoch: Instant,
    cpus: Box<[Cpu]>,
}

impl StdPlatform {
    pub fn new(cpu_count: usize) -> Self {
        Self {
            epoch: Instant::now(),
            cpus: (0..cpu_count)
                .map(|_| Cpu {
                    thread: OnceLock::new(),
                    pended: AtomicBool::new(false),
                })
                .collect(),
        }
    }

    fn id(&self) -> usize {
        core::ptr::from_ref(self).addr()
    }

    /// Makes the calling thread CPU `cpu` of this platform: `current_cpu`
    /// returns `cpu` on it, and `pend(cpu)` unparks it.
    pub fn bind_current_thread(&self, cpu: usize) {
        CPU.with(|slot| slot.set((self.id(), cpu)));
        self.cpus[cpu]
            .thread
            .set(thread::current())
            .expect("CPU already bound to a thread");
    }
}

impl Platform for StdPlatform {
    fn cpu_count(&self) -> usize {
        self.cpus.len()
    }

    fn current_cpu(&self) -> usize {
        match CPU.with(Cell::get) {
            (id, cpu) if id == self.id() => cpu,
            _ => usize::MAX,
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn pend(&self, cpu: usize) {
        let cpu = &self.cpus[cpu];
        // Release: pairs with the Acquire swap in `halt` (the executor's own
        // SeqCst protocol carries the real ordering; this is belt and
        // braces).
        cpu.pended.store(true, Ordering::Release);
        if let Some(thread) = cpu.thread.get() {
            thread.unpark();
        }
    }

    fn halt(&self, deadline: Option<u64>) {
        let Some(cpu) = self.cpus.get(self.current_cpu()) else {
            return;
        };
        let spin_end = self
            .now()
            .saturating_add(SPIN_BEFORE_PARK.as_nanos() as u64);
        let spin_end = deadline.map_or(spin_end, |deadline| deadline.min(spin_end));
        while self.now() < spin_end {
            if cpu.pended.swap(false, Ordering::Acquire) {
                return;
            }
            thread::yield_now();
        }
        if cpu.pended.swap(false, Ordering::Acquire) {
            return;
        }
        match deadline {
            None => thread::park(),
            Some(deadline) => {
                let now = self.now();
                if deadline > now {
                    thread::park_timeout(Duration::from_nanos(deadline - now));
                }
            }
        }
        cpu.pended.store(false, Ordering::Relaxed);
    }
}
