//! [`CountdownCompletion`]: resolves once it has been signalled `n` times.
//! Built for TLB-shootdown acknowledgements: the initiator awaits, each
//! target CPU's IPI handler calls [`signal`](CountdownCompletion::signal).
//!
//! The count is one atomic; the last signal (the one that takes it from 1 to
//! 0) wakes the waiter through an `AtomicWaker`.  Signalling is a CAS loop
//! and at most one wake: no allocation, no lock.

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll};

use futures_util::task::AtomicWaker;

/// A countdown to zero with one waiter.
pub struct CountdownCompletion {
    remaining: AtomicUsize,
    waiter: AtomicWaker,
}

impl CountdownCompletion {
    /// A countdown that resolves after `n` signals (at once if `n` is 0).
    pub const fn new(n: usize) -> Self {
        Self {
            remaining: AtomicUsize::new(n),
            waiter: AtomicWaker::new(),
        }
    }

    /// Counts one signal.  Returns `true` for the signal that reached zero.
    /// A signal after zero is a caller bug: it is ignored (and asserted
    /// against in debug builds) rather than wrapping the count.  Safe in
    /// interrupt handlers.
    pub fn signal(&self) -> bool {
        // AcqRel: Release publishes what this signaller did before (its
        // TLB flush) to the waiter; Acquire lets the last signaller's wake
        // carry everyone's.
        let old = self
            .remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        match old {
            Ok(1) => {
                self.waiter.wake();
                true
            }
            Ok(_) => false,
            Err(_) => {
                debug_assert!(false, "CountdownCompletion signalled past zero");
                false
            }
        }
    }

    /// Signals not yet received.
    pub fn remaining(&self) -> usize {
        self.remaining.load(Ordering::Acquire)
    }

    pub fn is_done(&self) -> bool {
        self.remaining() == 0
    }

    /// A future that resolves when the count reaches zero.  One waiter at a
    /// time (see [`Completion`](crate::Completion)).
    pub fn wait(&self) -> CountdownWait<'_> {
        CountdownWait { countdown: self }
    }
}

/// The future of [`CountdownCompletion::wait`].
pub struct CountdownWait<'a> {
    countdown: &'a CountdownCompletion,
}

impl Future for CountdownWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.countdown.is_done() {
            return Poll::Ready(());
        }
        // Register, then look again (AtomicWaker's contract).
        self.countdown.waiter.register(cx.waker());
        if self.countdown.is_done() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
