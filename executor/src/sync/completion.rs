//! [`Completion`]: a oneshot slot for one value, completed once (from any
//! context, interrupt handlers included) and awaited by one waiter.
//!
//! ```text
//!   EMPTY --complete()--> WRITING --value stored--> READY --taken--> TAKEN
//! ```
//!
//! The completer wins EMPTY -> WRITING by CAS, so the value is written by
//! exactly one thread.  It then takes the waiter's waker out of the
//! `AtomicWaker` (lock-free, no allocation), publishes the value with a
//! Release store of READY, and only then wakes the waker it took.  The
//! waiter takes the value with a READY -> TAKEN CAS, so it is read once.
//! `Completion<()>` is the value-less completion.
//!
//! # The completion may be freed as soon as the waiter sees it
//!
//! The READY store is the completer's last access to the `Completion`: a
//! waiter that sees READY may take the value and free the completion (the
//! usual shape: the op future owns it, an interrupt handler completes it
//! through a pointer) while the completer is still running.  The price: a
//! waiter that polls during the short WRITING window cannot rely on the
//! `AtomicWaker` (the completer may have taken the old waker already), so
//! it wakes itself and looks again.

use core::cell::UnsafeCell;
use core::future::Future;
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::sync::atomic::{AtomicU8, Ordering};
use core::task::{Context, Poll};

use futures_util::task::AtomicWaker;

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const READY: u8 = 2;
const TAKEN: u8 = 3;

/// A oneshot value.  One waiter at a time: a second concurrent
/// [`wait`](Completion::wait) would take over the first's registration
/// (use an [`Event`](crate::Event) to wake many).
pub struct Completion<T> {
    state: AtomicU8,
    value: UnsafeCell<MaybeUninit<T>>,
    waiter: AtomicWaker,
}

// SAFETY: the value is written by the one thread that won EMPTY -> WRITING
// and read by the one that won READY -> TAKEN, ordered by the state word;
// so sharing the completion only moves a `T` between threads.
unsafe impl<T: Send> Sync for Completion<T> {}

impl<T> Default for Completion<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Completion<T> {
    pub const fn new() -> Self {
        Self {
            state: AtomicU8::new(EMPTY),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            waiter: AtomicWaker::new(),
        }
    }

    /// Stores `value` and wakes the waiter.  Returns the value back if the
    /// completion was already completed.  Safe in interrupt handlers.
    pub fn complete(&self, value: T) -> Result<(), T> {
        if self
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(value);
        }
        // SAFETY: winning EMPTY -> WRITING makes this the only writer, and
        // no reader touches the slot before READY.
        unsafe { (*self.value.get()).write(value) };
        // Take the waker before READY: after READY the waiter may free
        // `self` (module docs).  A waiter registering from now on sees
        // WRITING and polls itself again.
        let waker = self.waiter.take();
        // Release: publishes the value to `try_take`'s Acquire CAS.  The
        // last access to `self`.
        self.state.store(READY, Ordering::Release);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether a value was stored (taken or not).
    pub fn is_complete(&self) -> bool {
        self.state.load(Ordering::Acquire) >= READY
    }

    /// Takes the value if it is there.
    pub fn try_take(&self) -> Option<T> {
        self.state
            .compare_exchange(READY, TAKEN, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        // SAFETY: READY means the value was written and published (Acquire
        // above); winning READY -> TAKEN makes this the only reader, and
        // TAKEN keeps `Drop` from dropping it again.
        Some(unsafe { (*self.value.get()).assume_init_read() })
    }

    /// The completer is between EMPTY and READY: it may already have taken
    /// the registered waker, so the waiter must not count on it.  WRITING
    /// lasts a value copy and an `AtomicWaker::take`.
    fn poll_again(&self, cx: &Context<'_>) -> Poll<T> {
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// A future that resolves to the value.
    pub fn wait(&self) -> CompletionWait<'_, T> {
        CompletionWait { completion: self }
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        if *self.state.get_mut() == READY {
            // SAFETY: READY: written, never taken; `&mut self` excludes
            // everyone else.
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

/// The future of [`Completion::wait`].
pub struct CompletionWait<'a, T> {
    completion: &'a Completion<T>,
}

impl<T> Future for CompletionWait<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let completion = self.completion;
        if let Some(value) = completion.try_take() {
            return Poll::Ready(value);
        }
        match completion.state.load(Ordering::Acquire) {
            TAKEN => panic!("Completion awaited after its value was taken"),
            WRITING => return completion.poll_again(cx),
            _ => {}
        }
        // Register, then look again: a completion in between either is seen
        // now, or wakes the registered waker (AtomicWaker's contract), or
        // is still WRITING and may have taken an older waker.
        completion.waiter.register(cx.waker());
        if let Some(value) = completion.try_take() {
            return Poll::Ready(value);
        }
        if completion.state.load(Ordering::Acquire) == WRITING {
            return completion.poll_again(cx);
        }
        Poll::Pending
    }
}
