//! User threads: what the kernel keeps of a thread, and which CPU runs it.
//!
//! A `Thread` holds only its user state (registers, and an FPU area
//! allocated when it is interrupted or faults and freed at its next
//! syscall: a thread blocked in the kernel has none), its process, and
//! scheduling links.
//! It owns no kernel stack: a thread in the kernel is either running on its
//! CPU's one stack, or has its state here and waits as a future.
//!
//! Each CPU has a queue of runnable threads and a current-thread slot; an
//! idle CPU takes threads from busier CPUs' queues (migration is free: the
//! state is all in the `Thread`).

use super::run_queues::RunQueues;
use crate::arch::percpu::MAX_CPUS;
use crate::arch::user::{FxArea, Resume, UserRegisters};
use crate::proc::process::{Process, StackCache, THREAD_STACK_AREA, THREAD_STACK_SLOT};
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::Mutex;

/// A thread's saved user state.
pub struct UserState {
    pub regs: UserRegisters,
    pub fpu: Option<SavedFpu>,
    pub resume: Resume,
    /// The stack region the last entry's check found.
    pub stack: StackCache,
}

pub struct Thread {
    /// The thread's index in its process (what results are delivered to).
    pub index: u32,
    /// Which stack the kernel mapped for it: its top is this many slots
    /// above the process's thread-stack area ([`NO_KERNEL_STACK`]: its
    /// own stack, or the main one).  In the padding after `index`: it costs nothing.
    kernel_stack: u32,
    pub process: Arc<Process>,
    pub state: Mutex<UserState>,
    /// Set when the thread has ended (the process's thread-end event
    /// announces it: one event per process keeps the `Thread` small).
    ended: core::sync::atomic::AtomicBool,
    /// An op result on its way to this thread (see [`Thread::deliver`]).
    delivery: Mutex<Delivery>,
}

/// The delivery slot: a result waiting for the thread, or the thread
/// waiting for a result (parked: off every CPU, holding no stack).
enum Delivery {
    Empty,
    Ready(i32),
    Waiting,
}

/// [`Thread::kernel_stack`] of a thread whose stack the kernel did not map.
const NO_KERNEL_STACK: u32 = u32::MAX;

/// A thread's FPU state as a trap saved it (512 bytes), counted for
/// `MEM_STATS`.
pub struct SavedFpu(Box<FxArea>);

static FPU_AREAS: AtomicUsize = AtomicUsize::new(0);

impl SavedFpu {
    pub fn new(area: &FxArea) -> Self {
        FPU_AREAS.fetch_add(1, Ordering::Relaxed);
        Self(Box::new(area.clone()))
    }

    pub fn area(&self) -> &FxArea {
        &self.0
    }

    pub fn save(&mut self, area: &FxArea) {
        self.0.0.copy_from_slice(&area.0);
    }
}

impl Drop for SavedFpu {
    fn drop(&mut self) {
        FPU_AREAS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Threads holding a saved FPU area: those interrupted or faulted since
/// their last syscall.
pub fn fpu_areas() -> usize {
    FPU_AREAS.load(Ordering::Relaxed)
}

static LIVE_THREADS: AtomicUsize = AtomicUsize::new(0);
static PARKED_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Threads alive, and those parked waiting for a delivered result.
pub fn counts() -> (usize, usize) {
    (
        LIVE_THREADS.load(Ordering::Relaxed),
        PARKED_THREADS.load(Ordering::Relaxed),
    )
}

impl Drop for Thread {
    fn drop(&mut self) {
        LIVE_THREADS.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Thread {
    pub fn new(
        process: Arc<Process>,
        regs: UserRegisters,
        index: u32,
        kernel_stack_top: Option<u64>,
    ) -> Arc<Self> {
        LIVE_THREADS.fetch_add(1, Ordering::Relaxed);
        let kernel_stack = kernel_stack_top
            .and_then(|top| u32::try_from((top - THREAD_STACK_AREA) / THREAD_STACK_SLOT).ok())
            .unwrap_or(NO_KERNEL_STACK);
        Arc::new(Self {
            index,
            kernel_stack,
            process,
            state: Mutex::new(UserState {
                regs,
                fpu: None,
                resume: Resume::Iret,
                stack: StackCache::default(),
            }),
            ended: core::sync::atomic::AtomicBool::new(false),
            delivery: Mutex::new(Delivery::Empty),
        })
    }

    /// The top of the stack the kernel mapped for this thread, if it did.
    pub fn kernel_stack_top(&self) -> Option<u64> {
        (self.kernel_stack != NO_KERNEL_STACK)
            .then(|| THREAD_STACK_AREA + u64::from(self.kernel_stack) * THREAD_STACK_SLOT)
    }

    /// Hands an op result to the thread: resumes it (with the result as
    /// `ring_enter`'s return value) if it is parked waiting, else keeps it
    /// for its next wait.
    pub fn deliver(self: &Arc<Self>, result: i32) {
        let mut delivery = self.delivery.lock();
        match *delivery {
            Delivery::Waiting => {
                *delivery = Delivery::Empty;
                drop(delivery);
                PARKED_THREADS.fetch_sub(1, Ordering::Relaxed);
                self.state.lock().regs.rax = result as i64 as u64;
                make_runnable(self.clone());
            }
            _ => *delivery = Delivery::Ready(result),
        }
    }

    /// The delivered result if there is one; otherwise the thread is marked
    /// waiting (the caller then parks it).
    pub fn take_or_wait(&self) -> Option<i32> {
        let mut delivery = self.delivery.lock();
        match *delivery {
            Delivery::Ready(result) => {
                *delivery = Delivery::Empty;
                Some(result)
            }
            _ => {
                *delivery = Delivery::Waiting;
                PARKED_THREADS.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Resumes the thread if it is parked waiting for a delivery (its
    /// process is ending: it ends when it resumes).
    pub fn unpark(self: &Arc<Self>) {
        let mut delivery = self.delivery.lock();
        if let Delivery::Waiting = *delivery {
            *delivery = Delivery::Empty;
            drop(delivery);
            PARKED_THREADS.fetch_sub(1, Ordering::Relaxed);
            make_runnable(self.clone());
        }
    }

    /// Marks the thread ended and wakes whoever waits for it.
    pub fn mark_ended(&self) {
        self.ended.store(true, Ordering::Release);
        self.process.thread_exits.wake_all();
    }

    /// Waits until the thread has ended.
    pub async fn wait_ended(&self) {
        self.process
            .thread_exits
            .wait_until(|| self.ended.load(Ordering::Acquire))
            .await;
    }
}

static RUNNABLE: RunQueues<Arc<Thread>, MAX_CPUS> = RunQueues::new();
static CURRENT: [Mutex<Option<Arc<Thread>>>; MAX_CPUS] = [const { Mutex::new(None) }; MAX_CPUS];
static NEXT_CPU: AtomicUsize = AtomicUsize::new(0);

/// Gives every online CPU's run queue its room, at boot (see
/// `RunQueues::reserve`).
pub fn reserve_run_queues(cpus: usize) {
    RUNNABLE.reserve(cpus);
}

fn cpu_count() -> usize {
    super::runtime().map_or(1, |runtime| runtime.cpu_count())
}

/// Queues `thread` on `cpu` and wakes that CPU if it is halted.
pub fn make_runnable_on(thread: Arc<Thread>, cpu: usize) {
    let _irq = crate::arch::InterruptGuard::new();
    RUNNABLE.push(cpu, thread);
    if let Some(runtime) = super::runtime() {
        runtime.platform().pend(cpu);
    }
}

/// Queues a new thread on the next CPU in turn.
pub fn make_runnable(thread: Arc<Thread>) {
    let cpu = NEXT_CPU.fetch_add(1, Ordering::Relaxed) % cpu_count();
    make_runnable_on(thread, cpu);
}

/// The next thread for CPU `cpu`: its own queue first, then the back of a
/// busier CPU's (`run_queues` says why at most one lock is held).  A
/// thread queued after the queues were found empty pends the CPU it was
/// queued on, and an idle CPU re-checks before halting: nothing is missed.
pub fn next_runnable(cpu: usize) -> Option<Arc<Thread>> {
    RUNNABLE.pop(cpu, cpu_count())
}

/// Runnable threads waiting on every CPU.
pub fn runnable_count() -> usize {
    RUNNABLE.len()
}

/// Makes `thread` this CPU's current thread.
pub fn set_current(cpu: usize, thread: Option<Arc<Thread>>) -> Option<Arc<Thread>> {
    core::mem::replace(&mut *CURRENT[cpu].lock(), thread)
}

/// This CPU's current thread.
pub fn current(cpu: usize) -> Option<Arc<Thread>> {
    CURRENT[cpu].lock().clone()
}
