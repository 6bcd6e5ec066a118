//! The per-CPU local run queue: an intrusive FIFO of ready tasks, touched
//! only by its CPU's executor (it sits in the driver state behind the
//! executor's exclusive lock).
//!
//! It reuses the header's link.  A task is either here, in an inbox, in a
//! steal queue, or being run: never two at once, because each holds the
//! task's single queue reference.  Linking needs no allocation, so the
//! queue never fails or grows a buffer.

use core::ptr::{self, NonNull};
use core::sync::atomic::Ordering;

use super::header::{Header, free};
use super::inbox::{Inbox, InboxCursor, Link, Pop};
use super::state::REAP;
use super::task_ref::TaskRef;

/// An intrusive FIFO of owned task references.
pub(crate) struct LocalQueue {
    head: *mut Link,
    tail: *mut Link,
    len: usize,
}

// SAFETY: the queue owns references to `Send` tasks (see `TaskRef`); the
// raw pointers are only followed by whoever holds the queue by `&mut`.
unsafe impl Send for LocalQueue {}

impl LocalQueue {
    pub(crate) const fn new() -> Self {
        Self {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `task`.
    pub(crate) fn push_back(&mut self, task: TaskRef) {
        let node = Link::of(task.into_raw());
        // SAFETY: nodes are tasks whose queue reference this queue owns, so
        // they are alive, and no other queue links them (one queue
        // reference per task).  The same holds for every link access in
        // this file.  Relaxed: only this CPU reads these links while the
        // task is here.
        unsafe { (*node).next().store(ptr::null_mut(), Ordering::Relaxed) };
        if self.tail.is_null() {
            self.head = node;
        } else {
            // SAFETY: see `push_back`.
            unsafe { (*self.tail).next().store(node, Ordering::Relaxed) };
        }
        self.tail = node;
        self.len += 1;
    }

    /// Puts `task` back at the front (it was just popped and not run).
    pub(crate) fn push_front(&mut self, task: TaskRef) {
        let mut front = LocalQueue::new();
        front.push_back(task);
        self.prepend(front);
    }

    /// Removes the oldest task.
    pub(crate) fn pop_front(&mut self) -> Option<TaskRef> {
        let node = NonNull::new(self.head)?;
        // SAFETY: see `push_back`.
        self.head = unsafe { node.as_ref().next().load(Ordering::Relaxed) };
        if self.head.is_null() {
            self.tail = ptr::null_mut();
        }
        self.len -= 1;
        // SAFETY: the queue owned this node's queue reference, and hands it
        // to the caller.
        Some(unsafe { TaskRef::from_raw(node.cast::<Header>()) })
    }

    /// Moves everything queued in `inbox` to the back of this queue, in
    /// order, and frees the REAP tasks found on the way.  Returns `true` if
    /// a producer was caught mid-push: more is queued but not yet reachable.
    pub(crate) fn drain_inbox(&mut self, inbox: &Inbox, cursor: &mut InboxCursor) -> bool {
        loop {
            let ptr = match inbox.pop(cursor) {
                Pop::Task(ptr) => ptr,
                Pop::Empty => return false,
                Pop::Busy => return true,
            };
            // SAFETY: a popped node is live and now ours: a queue reference,
            // or an unreferenced REAP task.
            let reap = unsafe { ptr.as_ref() }.state.load(Ordering::Acquire) & REAP != 0;
            if reap {
                // SAFETY: a REAP task has no references and the inbox gave
                // us the only pointer (1); this is an executor (2).
                unsafe { free(ptr) };
            } else {
                // SAFETY: the inbox owned the task's queue reference.
                self.push_back(unsafe { TaskRef::from_raw(ptr) });
            }
        }
    }

    /// Puts all of `front` before the tasks already queued, keeping its
    /// order.  Used to give back tasks offered to thieves and not taken, so
    /// the offer did not cost them their place.
    pub(crate) fn prepend(&mut self, mut front: LocalQueue) {
        if front.is_empty() {
            return;
        }
        // SAFETY: see `push_back`; `front.tail` is a live node of `front`.
        unsafe { (*front.tail).next().store(self.head, Ordering::Relaxed) };
        if self.tail.is_null() {
            self.tail = front.tail;
        }
        self.head = front.head;
        self.len += front.len;
        front.head = ptr::null_mut();
        front.tail = ptr::null_mut();
        front.len = 0;
    }
}

impl Drop for LocalQueue {
    fn drop(&mut self) {
        // Only temporary queues are dropped (the executors' live forever);
        // releasing their references is correct either way.
        while let Some(task) = self.pop_front() {
            drop(task);
        }
    }
}
