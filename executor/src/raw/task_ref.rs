//! [`TaskRef`]: an owned queue reference to a task, and the one place a
//! task is polled or cancelled.
//!
//! Executors only ever hold tasks as `TaskRef`s: popping one from a queue
//! hands over the queue's reference, [`TaskRef::run`] consumes it, and
//! dropping one releases it (freeing the task if it was the last, which is
//! allowed because only executors drop `TaskRef`s).

use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use core::task::{Context, Poll};

use super::header::{Header, Release, release};
use super::state::{AfterPending, CLOSED};
use super::waker::borrowed_waker;

/// One counted reference to a task, held by a run queue or an executor.
pub(crate) struct TaskRef(NonNull<Header>);

// SAFETY: tasks hold only `Send` futures and outputs, and the header is
// made of atomics and immutable fields; the reference can be released from
// any thread.
unsafe impl Send for TaskRef {}

/// What became of a task after [`TaskRef::run`].
pub(crate) enum Ran {
    /// It completed or was cancelled; the reference was released.
    Finished,
    /// It returned `Pending` and nothing woke it; the reference was
    /// released.
    Idle,
    /// It was woken while it ran: queue it again.
    Requeue(TaskRef),
}

impl TaskRef {
    /// Takes over a reference the caller owns.
    ///
    /// # Safety
    ///
    /// `ptr` points to a live task and the caller owns one reference to it
    /// (a queue reference), which the new `TaskRef` now owns.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> Self {
        Self(ptr)
    }

    /// Gives up the reference as a raw pointer, for an intrusive queue.
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        ManuallyDrop::new(self).0
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the reference this value owns keeps the header alive.
        unsafe { self.0.as_ref() }
    }

    /// Polls the task once (or cancels it, if aborted), on the calling
    /// executor's CPU.
    pub(crate) fn run(self) -> Ran {
        let header = self.header();
        if header.state.start_run() & CLOSED != 0 {
            self.cancel();
            return Ran::Finished;
        }
        // The context's waker borrows this `TaskRef`'s reference: it is not
        // counted, and wakers cloned from it are.
        let waker = borrowed_waker(self.0);
        let mut cx = Context::from_waker(&waker);
        // SAFETY: `start_run` set RUNNING, which gives this executor the
        // exclusive right to the future until it is cleared below.
        let poll = unsafe { (header.vtable.poll)(self.0, &mut cx) };
        match poll {
            Poll::Ready(()) => {
                header.state.complete(false);
                header.join_waker.wake();
                Ran::Finished
            }
            Poll::Pending => match header.state.end_pending() {
                AfterPending::Idle => Ran::Idle,
                AfterPending::Requeue => Ran::Requeue(self),
                AfterPending::Cancel => {
                    self.cancel();
                    Ran::Finished
                }
            },
        }
    }

    /// Drops the future of an aborted task and completes it as cancelled.
    /// The caller holds RUNNING.
    fn cancel(self) {
        let header = self.header();
        // SAFETY: the caller holds RUNNING (see `run`), so the future is
        // ours to drop.
        unsafe { (header.vtable.drop_future)(self.0) };
        header.state.complete(true);
        header.join_waker.wake();
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: this value owns one reference (1); `TaskRef`s are held and
        // dropped only by executors, never by interrupt handlers (2).
        unsafe { release(self.0, Release::Now) };
    }
}
