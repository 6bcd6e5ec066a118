//! Scheduling: the per-CPU executors and the loop every CPU runs.
//!
//! - `platform`: the `executor::Platform` of this kernel: CPU index from
//!   GS, the calibrated TSC as the clock, an IPI as the pender, the LAPIC
//!   timer and `sti; hlt` as the halt;
//! - `cpu_loop`: each CPU's one loop on its one kernel stack, and
//!   `block_on` for kernel code that must wait for a future (boot, tests);
//! - `thread`: user threads, and their run queues (`run_queues`, which the
//!   host tests too);
//! - `watchdog`: reports a CPU whose loop stops turning.
//!
//! User threads join the loop with user mode: between polling tasks and
//! halting, the loop will resume a runnable thread.

#[cfg(not(test))]
pub mod cpu_loop;
#[cfg(not(test))]
pub mod entry;
#[cfg(not(test))]
mod platform;
pub mod run_queues;
#[cfg(not(test))]
pub mod thread;
#[cfg(not(test))]
pub mod watchdog;

#[cfg(not(test))]
mod ktests;

#[cfg(not(test))]
pub use cpu_loop::{block_on, run};
#[cfg(not(test))]
pub use platform::{init, runtime};

/// Resolves when either future does (the other is dropped with its pin).
pub async fn race<A, B>(mut a: core::pin::Pin<&mut A>, mut b: core::pin::Pin<&mut B>)
where
    A: core::future::Future,
    B: core::future::Future,
{
    core::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() || b.as_mut().poll(cx).is_ready() {
            core::task::Poll::Ready(())
        } else {
            core::task::Poll::Pending
        }
    })
    .await
}
