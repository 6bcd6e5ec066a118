//! The intrusive waiter list behind an [`Event`](super::Event): nodes live
//! inside pinned [`Listener`](super::Listener) futures, so registering
//! allocates nothing.
//!
//! Every field of a node except `state` is touched only under the event's
//! lock.  `state` is also read without it, so a notified listener can see
//! its notification without locking:
//!
//! ```text
//!   IDLE --register--> WAITING --wake_one--> NOTIFIED_ONE --poll--> DONE
//!     |                   |    \--wake_all--> NOTIFIED_ALL --poll--> DONE
//!     +--permit taken-----|-----------------> NOTIFIED_ONE
//!                         +--listener dropped: unlinked
//! ```
//!
//! A signaller unlinks a node and takes its waker *before* it stores the
//! NOTIFIED state (Release), and touches the node no more after that: the
//! listener may see the state, return, and be freed at once.

use core::cell::{Cell, UnsafeCell};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU8, Ordering};
use core::task::Waker;

pub(crate) const IDLE: u8 = 0;
pub(crate) const WAITING: u8 = 1;
pub(crate) const NOTIFIED_ONE: u8 = 2;
pub(crate) const NOTIFIED_ALL: u8 = 3;
pub(crate) const DONE: u8 = 4;

/// One waiter, embedded in a pinned `Listener`.
pub(crate) struct WaitNode {
    prev: Cell<*const WaitNode>,
    next: Cell<*const WaitNode>,
    waker: UnsafeCell<Option<Waker>>,
    pub(crate) state: AtomicU8,
}

impl WaitNode {
    pub(crate) const fn new() -> Self {
        Self {
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
            waker: UnsafeCell::new(None),
            state: AtomicU8::new(IDLE),
        }
    }

    /// The node's waker slot.
    ///
    /// # Safety
    ///
    /// The caller holds the event's lock (the slot's only guard) and uses
    /// the reference only while it does.
    #[allow(clippy::mut_from_ref)] // the lock, not `&self`, grants access
    pub(crate) unsafe fn waker(&self) -> &mut Option<Waker> {
        // SAFETY: see the function's contract.
        unsafe { &mut *self.waker.get() }
    }
}

/// The list head, kept under the event's lock.
pub(crate) struct WaitList {
    head: *const WaitNode,
    tail: *const WaitNode,
    /// A `wake_one` that found nobody; the next registration takes it.
    pub(crate) permit: bool,
}

// SAFETY: the list only points at nodes whose listeners keep them pinned
// and alive while linked (a listener unlinks itself under the lock before it
// is dropped), and every access goes through the event's lock.
unsafe impl Send for WaitList {}

impl WaitList {
    pub(crate) const fn new() -> Self {
        Self {
            head: ptr::null(),
            tail: ptr::null(),
            permit: false,
        }
    }

    /// Appends `node` (FIFO: the oldest waiter is woken first).
    ///
    /// # Safety
    ///
    /// `node` is pinned, not linked, and stays alive until it is unlinked by
    /// [`pop_front`](Self::pop_front) or [`unlink`](Self::unlink).
    pub(crate) unsafe fn push_back(&mut self, node: &WaitNode) {
        node.prev.set(self.tail);
        node.next.set(ptr::null());
        if self.tail.is_null() {
            self.head = node;
        } else {
            // SAFETY: linked nodes are alive (the contract of `push_back`).
            unsafe { (*self.tail).next.set(node) };
        }
        self.tail = node;
    }

    /// Unlinks and returns the oldest waiter.  The node stays alive until
    /// its listener sees it notified (see [`notify`]).
    pub(crate) fn pop_front(&mut self) -> Option<NonNull<WaitNode>> {
        let node = NonNull::new(self.head.cast_mut())?;
        // SAFETY: linked nodes are alive (the contract of `push_back`), and
        // `node` is linked, so this unlinks a linked node.
        unsafe { self.unlink(node.as_ref()) };
        Some(node)
    }

    /// Unlinks `node`.
    ///
    /// # Safety
    ///
    /// `node` is linked in this list.
    pub(crate) unsafe fn unlink(&mut self, node: &WaitNode) {
        let (prev, next) = (node.prev.get(), node.next.get());
        if prev.is_null() {
            self.head = next;
        } else {
            // SAFETY: linked nodes are alive.
            unsafe { (*prev).next.set(next) };
        }
        if next.is_null() {
            self.tail = prev;
        } else {
            // SAFETY: linked nodes are alive.
            unsafe { (*next).prev.set(prev) };
        }
        node.prev.set(ptr::null());
        node.next.set(ptr::null());
    }
}

/// Marks a node just taken by [`WaitList::pop_front`] notified and returns
/// its waker for the caller to wake.  The node may be freed as soon as this
/// returns.
///
/// # Safety
///
/// The caller holds the event's lock, under which it popped `node`.
pub(crate) unsafe fn notify(node: NonNull<WaitNode>, how: u8) -> Option<Waker> {
    // SAFETY: until the state store below the listener cannot see the
    // notification, so it still waits (or blocks on the lock to unlink
    // itself): the node is alive, and the lock guards its waker slot.
    let node = unsafe { node.as_ref() };
    // SAFETY: the caller holds the lock.
    let waker = unsafe { node.waker() }.take();
    // Release: the listener's Acquire load sees the unlinking; from then on
    // it may free the node, so this is the last access.
    node.state.store(how, Ordering::Release);
    waker
}
