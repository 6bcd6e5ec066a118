//! [`JoinHandle`]: awaits a task's output, detaches it, or aborts it.
#![forbid(unsafe_code)]

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::raw::RawJoin;

/// Why a task produced no output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinError {
    /// [`JoinHandle::abort`] dropped the future before it completed.
    Cancelled,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was cancelled"),
        }
    }
}

/// An owned permission to await a task's output.
///
/// Awaiting it yields `Ok(output)`, or `Err(JoinError::Cancelled)` if the
/// task was aborted first.  **Dropping the handle detaches the task**: it
/// keeps running to completion, and its output is dropped.  Polling again
/// after it returned `Ready` panics.  Dropping a handle may free a finished
/// task (and its unread output), so it is not for interrupt handlers.
#[must_use = "dropping a JoinHandle detaches the task; call .detach() to say so"]
pub struct JoinHandle<T> {
    raw: RawJoin<T>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(raw: RawJoin<T>) -> Self {
        Self { raw }
    }

    /// Lets the task run on without anyone awaiting it.
    pub fn detach(self) {}

    /// Cancels the task: its future is dropped by its own CPU at the next
    /// chance (before its next poll, or right after the current one), and
    /// the handle then yields `Err(Cancelled)`.  If the task completes
    /// first, the handle yields its output.  Safe from any context that may
    /// wake (no allocation).
    pub fn abort(&self) {
        self.raw.abort();
    }

    /// Whether the task has completed or been cancelled.
    pub fn is_finished(&self) -> bool {
        self.raw.is_finished()
    }
}

// The output lives in the task allocation, never inside the handle.
impl<T> Unpin for JoinHandle<T> {}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let result = |output: Option<T>| output.ok_or(JoinError::Cancelled);
        if let Some(output) = this.raw.try_take() {
            return Poll::Ready(result(output));
        }
        this.raw.register(cx.waker());
        match this.raw.try_take() {
            Some(output) => Poll::Ready(result(output)),
            None => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
