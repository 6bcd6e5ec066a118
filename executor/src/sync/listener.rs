//! [`Listener`]: the future that waits on an [`Event`], carrying its own
//! intrusive waiter node (see `wait_list.rs` for the node's states).
//!
//! The node is reached by other CPUs through raw pointers while the listener
//! is registered, so the listener is `!Unpin`, and its own code only ever
//! takes shared references to the node (its mutable parts are `Cell`s, an
//! `UnsafeCell` and an atomic, guarded by the event's lock).

use core::future::Future;
use core::marker::PhantomPinned;
use core::pin::Pin;
use core::sync::atomic::Ordering;
use core::task::{Context, Poll, Waker};

use super::event::Event;
use super::wait_list::{DONE, IDLE, NOTIFIED_ALL, NOTIFIED_ONE, WAITING, WaitNode};

/// Waits for one wake of an [`Event`].  Created by [`Event::listen`].
///
/// Dropping a listener that a `wake_one` chose, before it returned `Ready`,
/// passes that wake on, so it is not lost.
pub struct Listener<'a> {
    event: &'a Event,
    node: WaitNode,
    _pinned: PhantomPinned,
}

// SAFETY: the node's non-atomic fields are touched only under the event's
// lock (from any CPU), so which thread owns the listener does not matter;
// the waker it stores is `Send`.
unsafe impl Send for Listener<'_> {}
// SAFETY: a shared `&Listener` gives access to nothing: every method that
// touches the node takes `Pin<&mut Self>` or runs in `drop`.
unsafe impl Sync for Listener<'_> {}

impl<'a> Listener<'a> {
    pub(super) fn new(event: &'a Event) -> Self {
        Self {
            event,
            node: WaitNode::new(),
            _pinned: PhantomPinned,
        }
    }

    /// Registers now, without waiting for the first poll, so that any wake
    /// from here on reaches this listener.  Call it, then check your
    /// condition, then await.  Does nothing if already registered.
    pub fn register(self: Pin<&mut Self>) {
        let this = self.into_ref().get_ref();
        if this.node.state.load(Ordering::Acquire) == IDLE {
            this.link(None);
        }
    }

    /// Whether a wake has reached this listener.
    pub fn is_notified(&self) -> bool {
        matches!(
            self.node.state.load(Ordering::Acquire),
            NOTIFIED_ONE | NOTIFIED_ALL | DONE
        )
    }

    /// Links the node (or takes the permit), under the lock.
    fn link(&self, waker: Option<&Waker>) {
        let mut list = self.event.waiters.lock();
        if list.permit {
            list.permit = false;
            self.node.state.store(NOTIFIED_ONE, Ordering::Relaxed);
        } else {
            // SAFETY: we hold the lock.
            *unsafe { self.node.waker() } = waker.cloned();
            // SAFETY: the listener is pinned (we got here through `Pin`) and
            // its `Drop` unlinks the node under the lock before the memory
            // goes; it is not linked (state was IDLE, changed only here).
            unsafe { list.push_back(&self.node) };
            self.event.linked();
            self.node.state.store(WAITING, Ordering::Relaxed);
        }
        self.event.unlock(list);
    }

    /// Replaces the stored waker if it would not wake the same task.
    fn update_waker(&self, waker: &Waker) {
        let list = self.event.waiters.lock();
        let mut old = None;
        // Under the lock, WAITING means still linked: only the lock holder
        // unlinks and changes the state.
        if self.node.state.load(Ordering::Relaxed) == WAITING {
            // SAFETY: we hold the lock.
            let slot = unsafe { self.node.waker() };
            if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                old = slot.replace(waker.clone());
            }
        }
        self.event.unlock(list);
        // Dropped unlocked: a waker's drop runs foreign code (spin_lock.rs).
        drop(old);
    }

    /// If notified, consumes the notification.
    fn take_notification(&self) -> bool {
        match self.node.state.load(Ordering::Acquire) {
            NOTIFIED_ONE | NOTIFIED_ALL => {
                self.node.state.store(DONE, Ordering::Relaxed);
                true
            }
            DONE => true,
            _ => false,
        }
    }
}

impl Future for Listener<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.into_ref().get_ref();
        if this.take_notification() {
            return Poll::Ready(());
        }
        if this.node.state.load(Ordering::Acquire) == IDLE {
            this.link(Some(cx.waker()));
        } else {
            this.update_waker(cx.waker());
        }
        // A signal served while we held the lock may have chosen us.
        if this.take_notification() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Listener<'_> {
    fn drop(&mut self) {
        let mut state = self.node.state.load(Ordering::Acquire);
        if state == WAITING {
            let mut list = self.event.waiters.lock();
            let mut waker = None;
            // Re-read under the lock: a signaller may have notified us while
            // we waited for it.
            state = self.node.state.load(Ordering::Acquire);
            if state == WAITING {
                // SAFETY: WAITING under the lock means linked in this list.
                unsafe { list.unlink(&self.node) };
                self.event.unlinked();
                // SAFETY: we hold the lock.
                waker = unsafe { self.node.waker() }.take();
            }
            self.event.unlock(list);
            // Dropped unlocked, as in `update_waker`.
            drop(waker);
        }
        if state == NOTIFIED_ONE {
            // Chosen by a wake_one we will never act on: pass it on.
            self.event.wake_one();
        }
    }
}
