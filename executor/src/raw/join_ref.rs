//! [`RawJoin`]: the join handle's typed reference to a task, with the
//! operations that need to know the output type.

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::Ordering;
use core::task::Waker;

use super::header::{Header, Release, release};
use super::state::{CANCELLED, COMPLETE};
use super::task_ref::TaskRef;

/// The join handle's counted reference to a task whose output is `T`.
pub(crate) struct RawJoin<T> {
    ptr: NonNull<Header>,
    _output: PhantomData<T>,
}

// SAFETY: the handle may take the `T` out on its own thread, hence `T:
// Send`; everything else it touches in the header is atomic.
unsafe impl<T: Send> Send for RawJoin<T> {}
// SAFETY: `&RawJoin` only registers wakers, aborts and reads the state, all
// atomic; taking the output needs `&mut`.
unsafe impl<T: Send> Sync for RawJoin<T> {}

impl<T> RawJoin<T> {
    /// # Safety
    ///
    /// `ptr` is a task whose future's output is `T`, and the caller hands
    /// over the reference that spawning reserved for the join handle.
    pub(super) unsafe fn new(ptr: NonNull<Header>) -> Self {
        Self {
            ptr,
            _output: PhantomData,
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle's reference keeps the header alive.
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.header().state.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// `None` while the task runs; then `Some(Some(output))`, or
    /// `Some(None)` if it was cancelled.  Panics if the output was already
    /// taken.
    pub(crate) fn try_take(&mut self) -> Option<Option<T>> {
        // Acquire: pairs with the executor's AcqRel COMPLETE transition, so
        // the stored output is visible.
        let state = self.header().state.load(Ordering::Acquire);
        if state & COMPLETE == 0 {
            return None;
        }
        if state & CANCELLED != 0 {
            return Some(None);
        }
        let mut output: Option<T> = None;
        // SAFETY: COMPLETE, and this handle is the task's only join handle
        // (1); `output` is an `Option<T>` of the task's output type, by
        // `new`'s contract (2).
        unsafe {
            (self.header().vtable.take_output)(self.ptr, (&raw mut output).cast());
        }
        Some(output)
    }

    /// Registers the waker to wake on completion.  Check `try_take` again
    /// after this, or a completion in between could be missed.
    pub(crate) fn register(&self, waker: &Waker) {
        self.header().join_waker.register(waker);
    }

    /// Requests cancellation: the future is dropped on its CPU at the next
    /// chance, unless it completes first.
    pub(crate) fn abort(&self) {
        let header = self.header();
        if header.state.abort() {
            // The idle task needs a queue reference to reach its executor.
            header.inc_ref();
            // SAFETY: the reference just taken goes to the queue.
            header
                .runtime
                .enqueue(unsafe { TaskRef::from_raw(self.ptr) });
        }
    }
}

impl<T> Drop for RawJoin<T> {
    fn drop(&mut self) {
        // SAFETY: the handle owns one reference (1); with `NowIfComplete`
        // it frees here only a COMPLETE task, whose future is gone (2).
        unsafe { release(self.ptr, Release::NowIfComplete) };
    }
}
