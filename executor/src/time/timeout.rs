//! [`timeout`]: runs a future against a deadline.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::sleep::{Sleep, sleep_until};

/// The deadline passed before the future completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

/// Resolves to `Ok(output)` if `future` completes first, or `Err(Elapsed)`
/// once the clock reaches `deadline`.  The future is polled first on every
/// wake, so one that is ready at the deadline still wins.
pub fn timeout<F: Future>(future: F, deadline: u64) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep_until(deadline),
    }
}

/// The future of [`timeout`].
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of `future`: it is never moved out of
        // a pinned `Timeout` (no method hands it out by value or `&mut`),
        // `Timeout` has no `Drop` impl that could move it, and `Timeout` is
        // `Unpin` only when `F` is.  `sleep` is `Unpin` and not pinned.
        let (future, sleep) = unsafe {
            let this = self.get_unchecked_mut();
            (Pin::new_unchecked(&mut this.future), &mut this.sleep)
        };
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}
