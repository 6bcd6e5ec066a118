//! The task header: the type-erased front of every task allocation, and the
//! reference count that decides who frees it.
//!
//! ```text
//!   one allocation (raw::task::Task<F>, #[repr(C)])
//!   +----------------------------------------------------------+
//!   | Header  link | state | refs | owner | pinned | runtime |  |
//!   |         vtable | join_waker                              |
//!   +----------------------------------------------------------+
//!   | stage: Running(F) | Finished(F::Output) | Consumed       |
//!   +----------------------------------------------------------+
//! ```
//!
//! A `*const Header` is the task pointer everywhere: the waker's data
//! pointer, the queue link (the link is the first field, so a `*mut Link`
//! from a queue is the header's address), the join handle.
//!
//! # Who frees a task
//!
//! The count holds one reference for the join handle, one for the run
//! queue while the task is queued or running, and one per waker.  Freeing
//! drops the future or the output, so it must not happen in an interrupt
//! handler (it calls the allocator) and should happen on the task's own
//! CPU.  So only two kinds of holder may free directly:
//! - an executor dropping its queue reference ([`Release::Now`]);
//! - a join handle, once the task is COMPLETE (only an output is left:
//!   [`Release::NowIfComplete`]);
//!
//! and everybody else, above all a waker dropped in an interrupt handler,
//! hands the unreferenced task to its owner's inbox with the REAP flag
//! ([`Release::Defer`]); the owner frees it when it drains the inbox.  That
//! push is lock-free and allocation-free like any wake.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering, fence};
use core::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use super::inbox::Link;
use super::state::{COMPLETE, State};
use crate::runtime::Runtime;

/// The type-specific operations on a task, one static table per future
/// type.
pub(crate) struct TaskVTable {
    /// Polls the future; on `Ready`, stores the output in the stage.
    pub(crate) poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<()>,
    /// Drops the future without running it further (cancellation).
    pub(crate) drop_future: unsafe fn(NonNull<Header>),
    /// Moves the output into `*mut Option<F::Output>`.
    pub(crate) take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops whatever is left in the stage and frees the allocation.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
}

/// The front of every task allocation.
#[repr(C)]
pub(crate) struct Header {
    /// Queue link.  First, so that queue nodes and headers share addresses.
    pub(crate) link: Link,
    pub(crate) state: State,
    refs: AtomicUsize,
    /// The CPU whose inbox wakes go to.  Changed only by a thief while the
    /// task is SCHEDULED and in its hands.  Read by whoever makes the next
    /// IDLE -> SCHEDULED transition, which the state CAS orders after the
    /// change, and by the holder that drops the last reference, which the
    /// count's Release/Acquire orders after it: so Relaxed suffices.  A
    /// stale value would only route a wake or a free to another CPU, which
    /// any executor handles (pinned tasks never change owner).
    owner: AtomicUsize,
    /// `spawn_on` tasks never move to another CPU.
    pub(crate) pinned: bool,
    pub(crate) runtime: &'static Runtime,
    pub(crate) vtable: &'static TaskVTable,
    /// The join handle's waker, woken when the task completes.
    pub(crate) join_waker: AtomicWaker,
}

impl Header {
    /// A header for a new task: SCHEDULED, with a reference for the join
    /// handle and one for the run queue it is about to enter.
    pub(crate) fn new(
        runtime: &'static Runtime,
        vtable: &'static TaskVTable,
        cpu: usize,
        pinned: bool,
    ) -> Self {
        Self {
            link: Link::new(),
            state: State::new_scheduled(),
            refs: AtomicUsize::new(2),
            owner: AtomicUsize::new(cpu),
            pinned,
            runtime,
            vtable,
            join_waker: AtomicWaker::new(),
        }
    }

    pub(crate) fn owner(&self) -> usize {
        self.owner.load(Ordering::Relaxed)
    }

    /// Moves the task to `cpu`.  Only a thief holding the task while it is
    /// SCHEDULED calls this (see `owner`).
    pub(crate) fn set_owner(&self, cpu: usize) {
        self.owner.store(cpu, Ordering::Relaxed);
    }

    /// Takes one more reference.
    pub(crate) fn inc_ref(&self) {
        // Relaxed: a new reference is made from an existing one, which keeps
        // the task alive meanwhile; nothing is published by counting.
        let old = self.refs.fetch_add(1, Ordering::Relaxed);
        // A leaked-waker loop could overflow the count and free a live
        // task; stop long before that.
        assert!(old <= isize::MAX as usize, "task reference count overflow");
    }
}

/// How to free a task whose last reference is being dropped.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// Free here: the caller is the task's executor.
    Now,
    /// Free here if COMPLETE, else defer: the caller is the join handle.
    NowIfComplete,
    /// Never free here: the caller may be an interrupt handler (a waker).
    Defer,
}

/// Drops one reference to the task at `ptr`, freeing it (now, or on its
/// owner CPU) if it was the last.
///
/// # Safety
///
/// 1. `ptr` points to a live task header, and the caller owns one
///    reference to it, which this call consumes.
/// 2. With [`Release::Now`], the caller is an executor, not an interrupt
///    handler.
pub(crate) unsafe fn release(ptr: NonNull<Header>, how: Release) {
    // SAFETY: condition 1 of this function: the caller's reference keeps
    // the header alive until the decrement below.
    let header = unsafe { ptr.as_ref() };
    // Release: this holder's uses of the task happen before the free.
    if header.refs.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    // Acquire: pairs with every other holder's Release decrement, so their
    // uses of the task happen before the free below.
    fence(Ordering::Acquire);
    let complete = header.state.load(Ordering::Acquire) & COMPLETE != 0;
    if how == Release::Now || (how == Release::NowIfComplete && complete) {
        // SAFETY: the count reached zero, so this is the only access left
        // (1); the caller allowed freeing here (condition 2, or COMPLETE:
        // only an output remains, which any thread may drop) (2).
        unsafe { free(ptr) };
    } else {
        header.state.mark_reap();
        let (runtime, cpu) = (header.runtime, header.owner());
        // SAFETY: the count is zero and this is the only pointer left, now
        // marked REAP; the inbox takes it over.
        unsafe { runtime.cpu(cpu).inbox.push_reap(ptr) };
        runtime.notify(cpu);
    }
}

/// Frees a task nobody references.
///
/// # Safety
///
/// 1. The task's reference count is zero and the caller holds the only
///    pointer to it.
/// 2. The caller is not an interrupt handler.
pub(crate) unsafe fn free(ptr: NonNull<Header>) {
    // SAFETY: condition 1: the header is still allocated.
    let header = unsafe { ptr.as_ref() };
    let (runtime, dealloc) = (header.runtime, header.vtable.dealloc);
    runtime.cpu(header.owner()).stats.freed();
    // SAFETY: conditions 1 and 2 are those of `dealloc`; `header` is not
    // used after this line.
    unsafe { dealloc(ptr) };
}
