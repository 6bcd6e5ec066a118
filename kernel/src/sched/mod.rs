//! Scheduling: the per-CPU executors and the loop every CPU runs.
//!
//! - `platform`: the `executor::Platform` of this kernel: CPU index from
//!   GS, the calibrated TSC as the clock, an IPI as the pender, the LAPIC
//!   timer and `sti; hlt` as the halt;
//! - `cpu_loop`: each CPU's one loop on its one kernel stack, and
//!   `block_on` for kernel code that must wait for a future (boot, tests).
//!
//! User threads join the loop with user mode: between polling tasks and
//! halting, the loop will resume a runnable thread.

pub mod cpu_loop;
pub mod entry;
mod platform;
pub mod thread;

mod ktests;

pub use cpu_loop::{block_on, run};
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
