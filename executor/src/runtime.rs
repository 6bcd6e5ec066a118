//! [`Runtime`]: the set of per-CPU executors, the platform they run on, and
//! task spawning.
//!
//! The runtime is created once and lives for ever (`&'static`): wakers and
//! timers may outlive any scope, and each task header points back at it to
//! route wakes.  The kernel creates it at boot, after the heap and before
//! the APs join the CPU loop.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::Future;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::context;
use crate::cpu::{Executor, PerCpu};
use crate::join::JoinHandle;
use crate::platform::Platform;
use crate::raw::{TaskRef, spawn_raw};
use crate::stats::ExecutorStats;
use crate::time::Sleep;

/// Tuning for a [`Runtime`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most task polls one [`Executor::run_once`] makes.  Bounds how long
    /// the CPU loop goes without firing timers or returning to the kernel.
    pub poll_budget: usize,
    /// Capacity of each CPU's queue of tasks offered to thieves.
    pub steal_queue_capacity: usize,
    /// Most tasks one steal takes from one victim.
    pub steal_batch: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            poll_budget: 64,
            steal_queue_capacity: 256,
            steal_batch: 32,
        }
    }
}

/// One executor per CPU, and the platform under them.
pub struct Runtime {
    platform: &'static dyn Platform,
    cpus: Box<[PerCpu]>,
    config: Config,
    /// CPUs in the idle protocol; a hint for offering work to thieves.
    pub(crate) idle_cpus: AtomicUsize,
}

impl Runtime {
    /// Creates the runtime, with one executor per `platform.cpu_count()`,
    /// and leaks it: a runtime is never destroyed.
    pub fn new(platform: &'static dyn Platform, config: Config) -> &'static Runtime {
        let cpu_count = platform.cpu_count();
        assert!(cpu_count > 0, "a runtime needs at least one CPU");
        assert!(config.poll_budget > 0 && config.steal_batch > 0);
        assert!(config.steal_queue_capacity > 0);
        let cpus: Vec<PerCpu> = (0..cpu_count)
            .map(|cpu| PerCpu::new(cpu, config.steal_queue_capacity))
            .collect();
        let runtime: &'static Runtime = Box::leak(Box::new(Runtime {
            platform,
            cpus: cpus.into_boxed_slice(),
            config,
            idle_cpus: AtomicUsize::new(0),
        }));
        // The inboxes are at their final addresses only now.
        for cpu in runtime.cpus.iter() {
            cpu.init();
        }
        context::enter(runtime);
        runtime
    }

    pub fn platform(&self) -> &'static dyn Platform {
        self.platform
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn cpu_count(&self) -> usize {
        self.cpus.len()
    }

    /// The executor of `cpu`, for that CPU's loop.
    pub fn executor(&'static self, cpu: usize) -> Executor {
        assert!(cpu < self.cpus.len(), "no CPU {cpu}");
        Executor::new(self, cpu)
    }

    /// The platform clock, in nanoseconds.
    pub fn now(&self) -> u64 {
        self.platform.now()
    }

    /// Spawns `future` on the calling CPU (CPU 0 if the caller is not a
    /// CPU).  It is stealable: an idle CPU may take it over, and from then
    /// on it runs there.  Allocates, so not for interrupt handlers.
    pub fn spawn<F>(&'static self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_inner(self.home_cpu(), false, future)
    }

    /// Spawns `future` pinned to `cpu`: it is only ever polled there.
    pub fn spawn_on<F>(&'static self, cpu: usize, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        assert!(cpu < self.cpus.len(), "no CPU {cpu}");
        self.spawn_inner(cpu, true, future)
    }

    fn spawn_inner<F>(&'static self, cpu: usize, pinned: bool, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, join) = spawn_raw(self, cpu, pinned, future);
        self.cpus[cpu].stats.spawned();
        self.enqueue(task);
        JoinHandle::new(join)
    }

    /// A [`Sleep`] until `deadline` on this runtime's clock.
    pub fn sleep_until(&'static self, deadline: u64) -> Sleep {
        Sleep::new(self, deadline)
    }

    /// A [`Sleep`] for `duration_ns` from now.
    pub fn sleep(&'static self, duration_ns: u64) -> Sleep {
        Sleep::new(self, self.now().saturating_add(duration_ns))
    }

    /// Tasks allocated and not yet freed, across all CPUs.  Exact when no
    /// CPU is spawning or freeing; a task whose last reference was dropped
    /// off its CPU counts until its CPU runs again and frees it.
    pub fn live_tasks(&self) -> usize {
        let (spawned, freed) = self.cpus.iter().fold((0u64, 0u64), |(s, f), cpu| {
            let stats = cpu.stats.snapshot();
            (s.wrapping_add(stats.spawned), f.wrapping_add(stats.freed))
        });
        spawned.wrapping_sub(freed) as usize
    }

    /// Counters of every CPU.
    pub fn stats(&self) -> Vec<ExecutorStats> {
        self.cpus.iter().map(|cpu| cpu.stats.snapshot()).collect()
    }

    pub(crate) fn cpu(&self, cpu: usize) -> &PerCpu {
        &self.cpus[cpu]
    }

    pub(crate) fn cpus(&self) -> &[PerCpu] {
        &self.cpus
    }

    /// The CPU the caller runs on, or CPU 0 for a host thread that is none.
    pub(crate) fn home_cpu(&self) -> usize {
        let cpu = self.platform.current_cpu();
        if cpu < self.cpus.len() { cpu } else { 0 }
    }

    /// Queues `task` on its owner's inbox and pends the owner if it is
    /// halted.  The wake path: lock-free, allocation-free.
    pub(crate) fn enqueue(&self, task: TaskRef) {
        let cpu = task.header().owner();
        self.cpus[cpu].inbox.push(task);
        self.notify(cpu);
    }

    /// Pends `cpu` if it has announced it is about to halt.  The waker side
    /// of the halt protocol (cpu/idle.rs): the caller has just published
    /// work with a SeqCst operation, and this SeqCst load completes the
    /// Dekker pair.  Clearing the flag makes one pend serve many wakes.
    pub(crate) fn notify(&self, cpu: usize) {
        let sleeping = &self.cpus[cpu].sleeping;
        if sleeping.load(Ordering::SeqCst) && sleeping.swap(false, Ordering::SeqCst) {
            self.platform.pend(cpu);
        }
    }
}
