//! One CPU's executor: its queues ([`PerCpu`]), the scheduling round
//! ([`Executor::run_once`], `run.rs`), work stealing (`steal.rs`) and the
//! halt protocol ([`Executor::enter_idle`], `idle.rs`).
//!
//! ```text
//!   wakes from anywhere        owner CPU only               other CPUs
//!   (interrupts included)
//!   ------------------> inbox --drain--> local queue
//!                                          |     | surplus, when a CPU idles
//!                                          |     v
//!                                          |   steal queue ----steal---->
//!                                          |     | (ArrayQueue, the front
//!                                          v     v  of the line)
//!                                        poll: steal queue first, then local
//! ```
#![forbid(unsafe_code)]

mod executor;
mod idle;
mod per_cpu;
mod run;
mod steal;

pub use executor::{Executor, RunOutcome};
pub use idle::Idle;
pub(crate) use per_cpu::PerCpu;
