//! The per-CPU inbox: an intrusive multi-producer, single-consumer queue
//! (D. Vyukov's non-blocking MPSC design) that takes wakes from anywhere.
//!
//! Why not `crossbeam_queue::SegQueue`: it allocates a block every few
//! dozen pushes and frees it on pop, and interrupt handlers push here (every
//! wake of a task goes through its owner's inbox), where allocating is not
//! allowed.  An intrusive queue links the task headers themselves, so a
//! push is one atomic swap and one store: wait-free, no allocation.  A
//! task is in at most one queue at a time (the SCHEDULED bit), so one link
//! per task is enough.
//!
//! ```text
//!   producers swap `head`        consumer walks from `tail`
//!        |                              |
//!        v                              v
//!   [newest] <-next- ... <-next- [oldest] ... (`next` points newer-ward)
//! ```
//!
//! A producer that swapped `head` but has not yet written its
//! predecessor's `next` leaves the queue momentarily unlinked: the consumer
//! then sees [`Pop::Busy`] and must come back rather than treat the queue as
//! empty.  The consumer's side ([`InboxCursor`]) lives in the executor's
//! driver state, which only the owning CPU touches.

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

use super::header::Header;
use super::task_ref::TaskRef;

/// The intrusive link, the first field of every task header.
pub(crate) struct Link {
    next: AtomicPtr<Link>,
}

impl Link {
    pub(crate) const fn new() -> Self {
        Self {
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The link of the task at `task`.  The link is the header's first field
    /// (`#[repr(C)]`), so the two pointers are the same address.
    pub(crate) fn of(task: NonNull<Header>) -> *mut Link {
        task.as_ptr().cast()
    }

    pub(crate) fn next(&self) -> &AtomicPtr<Link> {
        &self.next
    }
}

/// The shared (producer) side.  Must not move once initialised: the stub
/// node's address is in the queue.  It lives in the runtime's boxed per-CPU
/// array, which never moves or dies.
pub(crate) struct Inbox {
    head: AtomicPtr<Link>,
    stub: Link,
}

/// The consumer's side: only the owning CPU's executor holds it.  Exactly
/// one exists per inbox ([`Inbox::init`] refuses to run twice), and using
/// it takes `&mut`, so there is one consumer.
pub(crate) struct InboxCursor {
    tail: *mut Link,
    /// The inbox it belongs to; checked on every pop.
    inbox: *const Inbox,
}

impl InboxCursor {
    /// A placeholder until [`Inbox::init`] hands out the real cursor.
    pub(crate) const fn unset() -> Self {
        Self {
            tail: ptr::null_mut(),
            inbox: ptr::null(),
        }
    }
}

/// The result of one [`Inbox::pop`].
pub(super) enum Pop {
    /// The oldest task.  Ownership of whatever the pusher handed over (a
    /// queue reference, or a REAP task) passes to the caller.
    Task(NonNull<Header>),
    /// Nothing queued.
    Empty,
    /// A producer is mid-push: something is queued but not yet reachable.
    Busy,
}

impl Inbox {
    pub(crate) const fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
            stub: Link::new(),
        }
    }

    fn stub_ptr(&self) -> *mut Link {
        ptr::from_ref(&self.stub).cast_mut()
    }

    /// Points the queue at its stub, now that `self` is at its final
    /// address, and returns the one consumer cursor.  Panics if called
    /// twice.
    pub(crate) fn init(&self) -> InboxCursor {
        let stub = self.stub_ptr();
        let fresh =
            self.head
                .compare_exchange(ptr::null_mut(), stub, Ordering::Relaxed, Ordering::Relaxed);
        assert!(fresh.is_ok(), "inbox initialised twice");
        InboxCursor {
            tail: stub,
            inbox: self,
        }
    }

    /// Pushes `task`, whose queue reference the inbox now owns.  Wait-free
    /// and allocation-free: safe in interrupt handlers.
    pub(crate) fn push(&self, task: TaskRef) {
        self.push_link(Link::of(task.into_raw()));
    }

    /// Pushes a task that nobody references any more, for its owner to
    /// free.  Wait-free and allocation-free.
    ///
    /// # Safety
    ///
    /// `task` is live, marked REAP, has a reference count of zero, and the
    /// caller holds the only pointer to it, which the inbox now owns.
    pub(crate) unsafe fn push_reap(&self, task: NonNull<Header>) {
        self.push_link(Link::of(task));
    }

    fn push_link(&self, node: *mut Link) {
        // SAFETY: `node` is either the stub (lives as long as `self`) or a
        // task the caller handed over, which stays allocated while queued
        // (the queue owns it).  It is in no other queue (SCHEDULED or REAP
        // was set exactly once for this push), so nobody else writes its
        // link now.
        unsafe { (*node).next.store(ptr::null_mut(), Ordering::Relaxed) };
        // SeqCst: this swap and the idle CPU's SeqCst load of `head` in
        // `has_pending` take part in the halt protocol's Dekker pattern with
        // the `sleeping` flag (see cpu/idle.rs).
        let prev = self.head.swap(node, Ordering::SeqCst);
        // SAFETY: `prev` was the newest node.  The consumer never releases a
        // node whose `next` is still null, so `prev` is still alive (the
        // stub, or a queued task) until this store links it.  Release:
        // publishes the task's state to the consumer's Acquire load.
        unsafe { (*prev).next.store(node, Ordering::Release) };
    }

    /// Pops the oldest task.  `cursor` must be this inbox's (checked).
    pub(super) fn pop(&self, cursor: &mut InboxCursor) -> Pop {
        assert!(ptr::eq(cursor.inbox, self), "cursor of another inbox");
        let stub = self.stub_ptr();
        let mut tail = cursor.tail;
        // SAFETY: `tail` (and below, `next`) is the stub or a queued node.
        // Queued nodes stay alive until the one consumer, holding the one
        // cursor, returns them; and a node is returned only once its `next`
        // is set, so nothing dangles here.  The same holds for every
        // dereference in this function.
        let mut next = unsafe { (*tail).next.load(Ordering::Acquire) };
        if tail == stub {
            if next.is_null() {
                return if self.head.load(Ordering::Acquire) == stub {
                    Pop::Empty
                } else {
                    Pop::Busy
                };
            }
            // Skip the stub.
            cursor.tail = next;
            tail = next;
            // SAFETY: see above.
            next = unsafe { (*next).next.load(Ordering::Acquire) };
        }
        if !next.is_null() {
            cursor.tail = next;
            return Pop::Task(Self::task_of(tail));
        }
        if tail != self.head.load(Ordering::Acquire) {
            return Pop::Busy;
        }
        // `tail` is the last node; put the stub behind it so `tail` can be
        // returned without leaving the queue without a node.
        self.push_link(stub);
        // SAFETY: see above.
        next = unsafe { (*tail).next.load(Ordering::Acquire) };
        if next.is_null() {
            // Another producer got in between and has not linked yet.
            return Pop::Busy;
        }
        cursor.tail = next;
        Pop::Task(Self::task_of(tail))
    }

    fn task_of(link: *mut Link) -> NonNull<Header> {
        // A node other than the stub is a task header's first field.
        NonNull::new(link.cast::<Header>()).expect("queued node is never null")
    }

    /// Whether anything was pushed that `pop` has not returned yet.  Exact
    /// for the consumer after it popped until `Empty` or `Busy`.
    pub(crate) fn has_pending(&self, cursor: &InboxCursor) -> bool {
        debug_assert!(ptr::eq(cursor.inbox, self));
        // SeqCst: see `push_link`.
        let head = self.head.load(Ordering::SeqCst);
        head != cursor.tail || head != self.stub_ptr()
    }
}

// SAFETY: the cursor is a plain pointer into the inbox it came from; moving
// it to another thread is fine because the single-consumer rule is kept by
// whoever owns it (the executor's driver lock).
unsafe impl Send for InboxCursor {}
