//! The task waker: its data pointer is the task header, so a waker costs no
//! allocation of its own; cloning one counts a reference on the task.
//!
//! Every entry point here may run in an interrupt handler.  Waking is a CAS
//! on the state word plus, at most, a wait-free push onto the owner CPU's
//! inbox and a `pend`; dropping a waker never frees (see `header.rs`,
//! "Who frees a task").

use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use core::task::{RawWaker, RawWakerVTable, Waker};

use super::header::{Header, Release, release};
use super::task_ref::TaskRef;

/// One table for all tasks: a `static`, so `Waker::will_wake` can compare
/// wakers of the same task cheaply.
static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker for the task at `ptr` that borrows the caller's reference
/// instead of counting one; it must not outlive that reference.
pub(crate) fn borrowed_waker(ptr: NonNull<Header>) -> ManuallyDrop<Waker> {
    let raw = RawWaker::new(ptr.as_ptr().cast_const().cast(), &VTABLE);
    // SAFETY: the vtable functions below uphold the `RawWaker` contract
    // (thread-safe, each clone counts a reference), and `ManuallyDrop`
    // keeps this uncounted waker from releasing a reference it never took.
    ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}

/// # Safety
///
/// `data` is the data pointer of one of our wakers, so it points to a live
/// task header that the waker keeps alive.
unsafe fn header<'a>(data: *const ()) -> &'a Header {
    // SAFETY: see the function's contract.
    unsafe { &*data.cast::<Header>() }
}

fn as_ptr(data: *const ()) -> NonNull<Header> {
    NonNull::new(data.cast::<Header>().cast_mut()).expect("task waker data is never null")
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: called on one of our wakers (RawWakerVTable contract).
    unsafe { header(data) }.inc_ref();
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: called on one of our wakers (RawWakerVTable contract).
    let header = unsafe { header(data) };
    if header.state.wake() {
        // SAFETY: the waker's own reference becomes the queue's.
        header
            .runtime
            .enqueue(unsafe { TaskRef::from_raw(as_ptr(data)) });
    } else {
        // SAFETY: `wake` consumes the waker's reference (1); `Defer` never
        // frees here, so interrupt context is fine.
        unsafe { release(as_ptr(data), Release::Defer) };
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: called on one of our wakers (RawWakerVTable contract).
    let header = unsafe { header(data) };
    if header.state.wake() {
        // The queue needs a reference of its own; the waker keeps the task
        // alive while we take it.
        header.inc_ref();
        // SAFETY: the reference just taken is handed to the queue.
        header
            .runtime
            .enqueue(unsafe { TaskRef::from_raw(as_ptr(data)) });
    }
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: the waker owned one reference, consumed here (1); `Defer`
    // never frees here (2 does not apply).
    unsafe { release(as_ptr(data), Release::Defer) };
}
