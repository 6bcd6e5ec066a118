//! [`Event`]: an async wait queue with wake-one and wake-all, which
//! interrupt handlers may signal.
//!
//! # Why signalling never waits
//!
//! Waiters register under a spin lock (the list is intrusive, in the
//! waiting futures).  A signal, which may come from an interrupt handler,
//! must not spin on that lock: the code it interrupted might hold it.  So a
//! signal first adds itself to an atomic counter (`pending_one` or
//! `pending_all`), then only *tries* the lock:
//!
//! - got it: it processes every pending signal, then releases;
//! - did not: whoever holds the lock will process the signal before it lets
//!   go.
//!
//! Every release of the lock goes: process pending signals, unlock, SeqCst
//! fence, look at the counters, and if any is non-zero try the lock again.
//! The signaller's side is: add to the counter, SeqCst fence, try the lock.
//! The two fences make it impossible for both sides to miss each other
//! (the store-buffering pattern), so no signal is stranded.
//!
//! # Semantics
//!
//! - [`Event::wake_one`] wakes the oldest registered listener.  If nobody
//!   is registered it leaves one permit (permits do not add up), which the
//!   next listener to register takes and completes at once.
//! - [`Event::wake_all`] wakes every registered listener, and leaves no
//!   permit; with none registered it returns at once (a fence and a load).
//! - A signal processed late (handed to a lock holder) may also reach
//!   listeners that registered meanwhile: a wakeup may come early, never
//!   get lost.
//! - A listener dropped after a `wake_one` chose it, but before it returned
//!   `Ready`, passes the wake on to the next listener (or the permit).
//!
//! To wait for a condition without a lost wakeup, register *before* the
//! last check of the condition: [`Event::wait_until`] does exactly that.
//!
//! A signal touches the event after it has counted itself (it tries the
//! lock, and may serve other signals), so the event must outlive every
//! `wake_one` / `wake_all` call, not just its listeners: keep it in a
//! `static`, an `Arc` or a structure that outlives the signallers.  (A
//! [`Completion`](crate::Completion) or
//! [`CountdownCompletion`](crate::CountdownCompletion) may be freed once
//! its waiter resolves.)

use core::pin::pin;
use core::sync::atomic::{AtomicUsize, Ordering, fence};

use super::listener::Listener;
use super::spin_lock::{SpinGuard, SpinLock};
use super::wait_list::{NOTIFIED_ALL, NOTIFIED_ONE, WaitList, notify};

/// An async wait queue.  See the module documentation for the semantics.
pub struct Event {
    pub(crate) waiters: SpinLock<WaitList>,
    /// Listeners linked in `waiters`, readable without the lock: a
    /// `wake_all` with nobody to wake costs a fence and a load.  Changed
    /// only under the lock ([`Event::linked`], [`Event::unlinked`]).
    linked: AtomicUsize,
    pending_one: AtomicUsize,
    pending_all: AtomicUsize,
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl Event {
    pub const fn new() -> Self {
        Self {
            waiters: SpinLock::new(WaitList::new()),
            linked: AtomicUsize::new(0),
            pending_one: AtomicUsize::new(0),
            pending_all: AtomicUsize::new(0),
        }
    }

    /// A listener for this event.  It registers when first polled or when
    /// [`Listener::register`] is called, whichever comes first.
    pub fn listen(&self) -> Listener<'_> {
        Listener::new(self)
    }

    /// Resolves once `condition()` returns `true`, checking it again after
    /// every wake.  Registers before each re-check, so a signal sent after
    /// the condition became true is never missed.
    pub async fn wait_until(&self, mut condition: impl FnMut() -> bool) {
        loop {
            if condition() {
                return;
            }
            let mut listener = pin!(self.listen());
            listener.as_mut().register();
            if condition() {
                return;
            }
            listener.await;
        }
    }

    /// Wakes the oldest listener, or leaves a permit if there is none.
    /// Safe in interrupt handlers: no allocation, never waits.
    pub fn wake_one(&self) {
        // Release, paired with the Acquire swap in `process`: whatever the
        // caller did before signalling (set the condition) is visible to the
        // thread that serves the signal, and through the wake to the waiter.
        self.pending_one.fetch_add(1, Ordering::Release);
        self.signal();
    }

    /// Wakes every registered listener.  Safe in interrupt handlers.  With
    /// no listener registered it does nothing but a fence and a load, so
    /// posting paths may call it on every post.
    pub fn wake_all(&self) {
        // SeqCst fence: pairs with the one `unlock` makes after a listener
        // links itself.  Either this load sees the listener, or the
        // listener's re-check of its condition (after registering, as
        // `wait_until` does) sees what the caller did before signalling.
        fence(Ordering::SeqCst);
        if !self.has_waiters() {
            return;
        }
        // Release: as in `wake_one`.
        self.pending_all.fetch_add(1, Ordering::Release);
        self.signal();
    }

    /// Whether any listener is registered (a snapshot, without the lock).
    pub fn has_waiters(&self) -> bool {
        self.linked.load(Ordering::Relaxed) != 0
    }

    /// Counts a listener just linked (under the lock).
    pub(crate) fn linked(&self) {
        self.linked.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a listener just unlinked (under the lock).
    pub(crate) fn unlinked(&self) {
        self.linked.fetch_sub(1, Ordering::Relaxed);
    }

    fn signal(&self) {
        // SeqCst fence: pairs with the one in `unlock` (module docs).
        fence(Ordering::SeqCst);
        if let Some(list) = self.waiters.try_lock() {
            self.unlock(list);
        }
    }

    fn has_pending(&self) -> bool {
        self.pending_one.load(Ordering::Relaxed) != 0
            || self.pending_all.load(Ordering::Relaxed) != 0
    }

    /// Releases the lock, first serving every signal handed to it.  The
    /// only way the crate lets go of this lock.
    pub(crate) fn unlock<'a>(&'a self, mut list: SpinGuard<'a, WaitList>) {
        loop {
            self.process(&mut list);
            drop(list);
            // SeqCst fence: pairs with the one in `signal` (module docs).
            fence(Ordering::SeqCst);
            if !self.has_pending() {
                return;
            }
            match self.waiters.try_lock() {
                Some(again) => list = again,
                // The new holder serves them.
                None => return,
            }
        }
    }

    /// Serves pending signals.  Wakes under the lock: our task wakers only
    /// push to an inbox, and a waker that signalled this event again would
    /// just add to a counter, since signals only try the lock.
    fn process(&self, list: &mut WaitList) {
        if self.pending_all.swap(0, Ordering::Acquire) != 0 {
            while let Some(node) = list.pop_front() {
                self.unlinked();
                // SAFETY: we hold the lock and just popped `node`.
                if let Some(waker) = unsafe { notify(node, NOTIFIED_ALL) } {
                    waker.wake();
                }
            }
        }
        let wakes = self.pending_one.swap(0, Ordering::Acquire);
        for _ in 0..wakes {
            let Some(node) = list.pop_front() else {
                list.permit = true;
                break;
            };
            self.unlinked();
            // SAFETY: we hold the lock and just popped `node`.
            if let Some(waker) = unsafe { notify(node, NOTIFIED_ONE) } {
                waker.wake();
            }
        }
    }
}
