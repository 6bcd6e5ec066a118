//! The CPU loop: what each CPU runs, on its one kernel stack, forever.
//!
//! ```text
//! loop:
//!   run the functions other CPUs queued (smp::call_on)
//!   run_once: poll ready tasks (a bounded round), fire expired timers,
//!             steal if this CPU has nothing
//!   a runnable user thread: resume it (never returns here: its next entry
//!             to the kernel restarts the loop at the top of the stack),
//!             with the LAPIC timer armed for its slice
//!   nothing ready: enter the idle protocol, arm the LAPIC timer for the
//!             next deadline (none: no tick at all), sti; hlt
//! ```
//!
//! Each turn is a beat of the watchdog (`watchdog`), and the halt tells it
//! the CPU is idle.
//!
//! Interrupts stay off except in the `hlt`, so a task is never interrupted
//! mid-poll; interrupt handlers only wake tasks and end the `hlt`.

use super::thread;
use crate::arch::smp;
use alloc::sync::Arc;
use alloc::task::Wake;
use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, Waker};
use executor::{Executor, Runtime};

/// One turn of the loop.  `stop` is checked after the round and again
/// inside the idle protocol (after the CPU has declared itself sleeping), so
/// a stop condition that becomes true during the round never leads to a
/// `hlt` nobody will end.
fn turn(executor: &Executor, stop: &impl Fn() -> bool, may_resume_threads: bool) {
    super::watchdog::beat(executor.cpu());
    smp::run_calls();
    let outcome = executor.run_once();
    if outcome.more_ready || stop() {
        return;
    }
    if may_resume_threads && let Some(thread) = thread::next_runnable(executor.cpu()) {
        resume(executor.cpu(), thread, outcome.next_deadline);
    }
    if let Some(idle) = executor.enter_idle()
        && !stop()
    {
        let deadline = super::watchdog::going_idle(executor.cpu(), idle.deadline());
        executor.runtime().platform().halt(deadline);
    }
}

/// Runs this CPU's executor and its user threads forever.
pub fn run(runtime: &'static Runtime) -> ! {
    let executor = runtime.executor(crate::arch::percpu::cpu_index());
    loop {
        turn(&executor, &|| false, true);
    }
}

/// Starts the loop again at the top of this CPU's kernel stack.  From an
/// entry from user mode (which began there) that is where the stack is
/// anyway; from inside the loop (it picked a thread of an exiting process
/// and ended it) it is what keeps the stack from growing: a process
/// exiting with 15,000 threads queued nested as many loops and ran the
/// stack into the kernel's data.
pub fn restart() -> ! {
    // The thread that ran here may end on another CPU and free its page
    // tables: a CPU not running user code holds only the kernel's.
    crate::mm::paging::activate_kernel();
    crate::arch::user::on_kernel_stack_top(run_loop)
}

extern "C" fn run_loop() -> ! {
    run(super::runtime().expect("user threads run only under the executors"))
}

/// How long a user thread runs before the timer preempts it.
const SLICE_NS: u64 = 10_000_000;

/// Runs `thread` on this CPU until its next entry to the kernel.
fn resume(cpu: usize, thread: Arc<thread::Thread>, next_deadline: Option<u64>) -> ! {
    if thread.process.is_exiting() {
        super::entry::end_thread(thread, crate::proc::process::ExitStatus::Exited(0));
    }
    thread.process.activate_space();
    let slice_end = crate::time::now_ns() + SLICE_NS;
    crate::arch::apic::timer_at_ns(
        next_deadline.map_or(slice_end, |deadline| deadline.min(slice_end)),
    );
    // The slot owns the thread while it runs.
    drop(thread::set_current(cpu, Some(thread.clone())));
    super::entry::enter_current(thread)
}

/// Runs `future` to completion on this CPU, running the CPU's executor
/// (and so every other task here) while it waits.  For code that is not a
/// task: boot and the test runner.  `future` is polled in place: it needs
/// no allocation and may borrow from the caller.
pub fn block_on<F: Future>(runtime: &'static Runtime, future: F) -> F::Output {
    let cpu = crate::arch::percpu::cpu_index();
    let executor = runtime.executor(cpu);
    let mut future = pin!(future);
    let flag = Arc::new(WakeFlag {
        woken: AtomicBool::new(false),
        cpu,
    });
    let waker = Waker::from(flag.clone());
    let mut context = Context::from_waker(&waker);
    loop {
        flag.woken.store(false, Ordering::SeqCst);
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        let woken = || flag.woken.load(Ordering::SeqCst);
        // Never a user thread here: this frame lives on the stack that the
        // thread's next entry would reset.
        while !woken() {
            turn(&executor, &woken, false);
        }
    }
}

/// The waker of a `block_on` future: a flag, and a pend of the waiting CPU
/// (an IPI when the waker runs elsewhere).
struct WakeFlag {
    woken: AtomicBool,
    cpu: usize,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if let Some(runtime) = super::runtime() {
            runtime.platform().pend(self.cpu);
        }
    }
}
