//! [`CountdownCompletion`]: resolves once it has been signalled `n` times.
//! Built for TLB-shootdown acknowledgements: the initiator awaits, each
//! target CPU's IPI handler calls [`signal`](CountdownCompletion::signal).
//!
//! The count is one atomic; the last signal (the one that takes it from 1 to
//! 0) wakes the waiter through an `AtomicWaker`.  Signalling is a CAS loop
//! and at most one wake: no allocation, no lock.
//!
//! # The countdown may be freed as soon as the waiter sees it done
//!
//! A shootdown initiator keeps the countdown in its own future and hands
//! the IPI handlers a pointer; once the wait resolves, the future returns
//! and the countdown is gone.  So the last signal must not touch it after
//! the waiter can see zero.  It goes 1 -> FINISHING (no count left, not
//! done yet), takes the waiter's waker, stores 0 (its last access), and
//! only then wakes the waker it took.  A waiter that polls while FINISHING
//! cannot rely on the `AtomicWaker` (its waker may be registered after the
//! take), so it wakes itself and looks again; FINISHING lasts one
//! `AtomicWaker::take`.

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll};

use futures_util::task::AtomicWaker;

/// The top bit of `remaining`: the last signal is taking the waker (module
/// docs).  Counts stay below it.
const FINISHING: usize = 1 << (usize::BITS - 1);

/// A countdown to zero with one waiter.
pub struct CountdownCompletion {
    remaining: AtomicUsize,
    waiter: AtomicWaker,
}

impl CountdownCompletion {
    /// A countdown that resolves after `n` signals (at once if `n` is 0).
    /// `n` must be below `usize::MAX / 2`.
    pub const fn new(n: usize) -> Self {
        assert!(n < FINISHING, "CountdownCompletion count too large");
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
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| match n {
                0 => None,
                _ if n & FINISHING != 0 => None,
                1 => Some(FINISHING),
                _ => Some(n - 1),
            });
        match old {
            Ok(1) => {
                let waker = self.waiter.take();
                // Release: with the AcqRel chain above, every signaller's
                // earlier writes reach the waiter that reads this 0.  The
                // last access to `self` (module docs).
                self.remaining.store(0, Ordering::Release);
                if let Some(waker) = waker {
                    waker.wake();
                }
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
        let n = self.remaining.load(Ordering::Acquire);
        if n & FINISHING != 0 { 0 } else { n }
    }

    /// Whether every signal was received and the last one is done with the
    /// countdown (it may be freed now).
    pub fn is_done(&self) -> bool {
        self.remaining.load(Ordering::Acquire) == 0
    }

    /// The waiter's check: `Some(Ready)` when done; `Some(Pending)` after
    /// waking itself, while the last signal is FINISHING (it may have taken
    /// the registered waker already); `None` while signals are missing.
    fn check(&self, cx: &Context<'_>) -> Option<Poll<()>> {
        match self.remaining.load(Ordering::Acquire) {
            0 => Some(Poll::Ready(())),
            FINISHING => {
                cx.waker().wake_by_ref();
                Some(Poll::Pending)
            }
            _ => None,
        }
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
        let countdown = self.countdown;
        if let Some(poll) = countdown.check(cx) {
            return poll;
        }
        // Register, then look again (AtomicWaker's contract, and FINISHING
        // as above).
        countdown.waiter.register(cx.waker());
        countdown.check(cx).unwrap_or(Poll::Pending)
    }
}
