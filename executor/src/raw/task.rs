//! The task allocation: a [`Header`] followed by the future's stage, in one
//! `#[repr(C)]` struct, and the type-specific vtable functions that the
//! type-erased header calls.
//!
//! Exactly one heap allocation per task: the `Box` in [`spawn_raw`].  The
//! waker, the join handle and the queues all point at this one block.

use alloc::boxed::Box;
use core::cell::UnsafeCell;
use core::future::Future;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll};

use super::header::{Header, TaskVTable};
use super::join_ref::RawJoin;
use super::task_ref::TaskRef;
use crate::runtime::Runtime;

/// What the task holds after its header.  The future and its output never
/// coexist, so they share the slot.
enum Stage<F: Future> {
    Running(F),
    Finished(F::Output),
    /// The output was taken, or the future was cancelled.
    Consumed,
}

#[repr(C)]
struct Task<F: Future> {
    /// First, so a `*mut Task<F>` is a `*mut Header`.
    header: Header,
    /// Accessed only by the executor holding RUNNING, then (after COMPLETE)
    /// only by the join handle, then by the freeing thread: see
    /// `state.rs` for why those never overlap.
    stage: UnsafeCell<Stage<F>>,
}

impl<F> Task<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    const VTABLE: TaskVTable = TaskVTable {
        poll: Self::poll,
        drop_future: Self::drop_future,
        take_output: Self::take_output,
        dealloc: Self::dealloc,
    };

    /// The stage of the task at `ptr`.
    ///
    /// # Safety
    ///
    /// 1. `ptr` came from [`spawn_raw`] for this `F` and is not freed.
    /// 2. The caller has the exclusive right to the stage described on
    ///    [`Task::stage`] for as long as it uses the returned reference.
    unsafe fn stage<'a>(ptr: NonNull<Header>) -> &'a mut Stage<F> {
        let task = ptr.cast::<Self>();
        // SAFETY: condition 1: the header is the first field of a live
        // `Task<F>`; condition 2: nothing else accesses the cell meanwhile.
        unsafe { &mut *(*task.as_ptr()).stage.get() }
    }

    /// # Safety
    ///
    /// The caller holds RUNNING for the task at `ptr` (from [`spawn_raw`]
    /// for this `F`).
    unsafe fn poll(ptr: NonNull<Header>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: RUNNING gives exclusive access to the stage.
        let stage = unsafe { Self::stage(ptr) };
        let Stage::Running(future) = stage else {
            unreachable!("a task is polled only while its future is alive");
        };
        // SAFETY: the future lives inside the task allocation, which is
        // never moved and is freed only by `dealloc`, which drops the future
        // in place first: the pinning guarantee holds.
        let future = unsafe { Pin::new_unchecked(future) };
        match future.poll(cx) {
            Poll::Ready(output) => {
                // Move the spent future out before running its destructor,
                // as `drop_future` does: `*stage = ...` would drop it in
                // place, and a destructor that unwinds (host tests) would
                // leave the slot to be dropped a second time by `dealloc`.
                let spent = core::mem::replace(stage, Stage::Finished(output));
                drop(spent);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// # Safety
    ///
    /// As for [`Task::poll`].
    unsafe fn drop_future(ptr: NonNull<Header>) {
        // SAFETY: RUNNING gives exclusive access to the stage.
        let stage = unsafe { Self::stage(ptr) };
        // Leave the slot Consumed before running the future's destructor,
        // so nothing can observe a half-dropped future.
        let old = core::mem::replace(stage, Stage::Consumed);
        drop(old);
    }

    /// # Safety
    ///
    /// 1. The task at `ptr` (from [`spawn_raw`] for this `F`) is COMPLETE
    ///    and the caller is its join handle.
    /// 2. `out` points to a valid `Option<F::Output>`.
    unsafe fn take_output(ptr: NonNull<Header>, out: *mut ()) {
        // SAFETY: condition 1: after COMPLETE only the join handle touches
        // the stage until the task is freed, and the handle holds a
        // reference so it is not freed meanwhile.
        let stage = unsafe { Self::stage(ptr) };
        match core::mem::replace(stage, Stage::Consumed) {
            // SAFETY: condition 2.
            Stage::Finished(output) => unsafe {
                *out.cast::<Option<F::Output>>() = Some(output);
            },
            _ => panic!("JoinHandle polled after it returned the output"),
        }
    }

    /// # Safety
    ///
    /// The task at `ptr` (from [`spawn_raw`] for this `F`) has no references
    /// left, and the caller is not an interrupt handler.
    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: `ptr` came from `Box::into_raw` of a `Box<Task<F>>` in
        // `spawn_raw`, and nobody else can reach it any more.
        drop(unsafe { Box::from_raw(ptr.cast::<Self>().as_ptr()) });
    }
}

/// Allocates a task for `future`, owned by `cpu`.  It starts SCHEDULED and
/// returns its two references: the run queue's, which the caller must
/// enqueue next, and the join handle's.
pub(crate) fn spawn_raw<F>(
    runtime: &'static Runtime,
    cpu: usize,
    pinned: bool,
    future: F,
) -> (TaskRef, RawJoin<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = Box::new(Task {
        header: Header::new(runtime, &Task::<F>::VTABLE, cpu, pinned),
        stage: UnsafeCell::new(Stage::Running(future)),
    });
    let ptr = NonNull::new(Box::into_raw(task))
        .expect("Box::into_raw is never null")
        .cast::<Header>();
    // SAFETY: the header starts with two references, one for each of these
    // (1); the join handle's output type is this future's (2).
    unsafe { (TaskRef::from_raw(ptr), RawJoin::new(ptr)) }
}
