//! Per-CPU async executors for the kernel (DESIGN.md section 6).
//!
//! Every kernel operation is a future running as a task on one CPU's
//! executor.  The pieces, and where they live:
//!
//! - [`Platform`] (`platform`): what the kernel supplies: CPU ids, the
//!   clock, "pend CPU n" (an IPI) and halting.
//! - [`Runtime`] (`runtime`): one per machine; owns one executor per CPU
//!   and spawns tasks ([`Runtime::spawn`], [`Runtime::spawn_on`]).
//! - [`Executor`] (`cpu/`): a handle on one CPU's executor.  The CPU loop
//!   calls [`Executor::run_once`] and halts through [`Executor::enter_idle`].
//! - `raw/`: the task allocation, its state machine, its waker and the
//!   intrusive run queues.  All the crate's delicate `unsafe` is here.
//! - [`JoinHandle`] (`join`), [`yield_now`] (`yield_now`).
//! - `time/`: per-CPU deadline timers: [`sleep`], [`sleep_until`],
//!   [`timeout`].
//! - `sync/`: wait primitives that interrupt handlers may signal:
//!   [`Event`], [`Completion`], [`CountdownCompletion`].
//! - `std_platform/` (feature `std`, and always in this crate's tests): OS
//!   threads as CPUs, for host tests and the benchmark.
//!
//! The free functions ([`spawn`], [`sleep`], [`now`], ...) find the runtime
//! of the CPU they run on through `context`; code outside any CPU uses the
//! methods on [`Runtime`] instead.
//!
//! # Kernel integration
//!
//! Boot: implement [`Platform`] on per-CPU data (GS base) and the LAPIC,
//! then `Runtime::new(&PLATFORM, Config::default())` once, after the heap.
//! Each CPU's loop, interrupts off:
//!
//! ```text
//! let executor = runtime.executor(this_cpu);
//! loop {
//!     let outcome = executor.run_once();      // timers, inbox, polls, steal
//!     // resume a runnable user thread here, if any
//!     if outcome.more_ready { continue; }
//!     if let Some(idle) = executor.enter_idle() {
//!         PLATFORM.halt(idle.deadline());     // arm LAPIC; sti; hlt; cli
//!     }                                       // idle dropped: awake again
//! }
//! ```
//!
//! # What interrupt handlers may do
//!
//! Wake or drop a [`Waker`](core::task::Waker) of a task, signal an
//! [`Event`] (`wake_one`, `wake_all`), a [`Completion`] (`complete`) or a
//! [`CountdownCompletion`] (`signal`), and [`JoinHandle::abort`].  All of
//! these are lock-free and allocation-free; a task whose last reference an
//! interrupt drops is freed later by its own CPU.  Everything else
//! (spawning, polling futures, dropping a `JoinHandle`, creating or
//! dropping a [`Sleep`]) allocates, frees, or takes a spin lock, and
//! belongs in task or CPU-loop context.
#![cfg_attr(not(any(feature = "std", test)), no_std)]

extern crate alloc;

mod context;
mod cpu;
mod join;
mod platform;
mod raw;
mod runtime;
mod stats;
mod sync;
mod time;
mod yield_now;

#[cfg(any(feature = "std", test))]
mod std_platform;
#[cfg(test)]
mod tests;

pub use context::{now, spawn, spawn_on};
pub use cpu::{Executor, Idle, RunOutcome};
pub use join::{JoinError, JoinHandle};
pub use platform::Platform;
pub use runtime::{Config, Runtime};
pub use stats::ExecutorStats;
pub use sync::{Completion, CompletionWait, CountdownCompletion, CountdownWait, Event, Listener};
pub use time::{Elapsed, Sleep, Timeout, sleep, sleep_until, timeout};
pub use yield_now::{YieldNow, yield_now};

#[cfg(any(feature = "std", test))]
pub use std_platform::{StdPlatform, StdRuntime, block_on};
