//! Task internals: the one-allocation task, its state machine, its waker,
//! and the intrusive queues that carry it between CPUs.
//!
//! This is where the crate's invariants about memory live, so nearly all of
//! its `unsafe` is here.  The rest of the crate sees [`TaskRef`] (an owned
//! reference to a task), [`spawn_raw`] and the queue types.

mod header;
mod inbox;
mod join_ref;
mod local_queue;
mod state;
mod task;
mod task_ref;
mod waker;

pub(crate) use inbox::{Inbox, InboxCursor};
pub(crate) use join_ref::RawJoin;
pub(crate) use local_queue::LocalQueue;
pub(crate) use task::spawn_raw;
pub(crate) use task_ref::{Ran, TaskRef};
