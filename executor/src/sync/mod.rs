//! Wait primitives that interrupt handlers may signal: [`Event`] (a wait
//! queue with wake-one and wake-all), [`Completion`] (a oneshot value) and
//! [`CountdownCompletion`] (resolves after `n` signals, for TLB-shootdown
//! acknowledgements).
//!
//! The rule for all of them: the *signal* path allocates nothing and never
//! waits for a lock.  `Completion` and `CountdownCompletion` are atomics
//! plus a `futures_util` `AtomicWaker`; `Event` keeps its waiter list under
//! a spin lock that signals only *try* to take, handing their signal to the
//! lock holder when they cannot (see `event.rs`).

mod completion;
mod countdown;
mod event;
mod listener;
mod spin_lock;
mod wait_list;

pub use completion::{Completion, CompletionWait};
pub use countdown::{CountdownCompletion, CountdownWait};
pub use event::Event;
pub use listener::Listener;
pub(crate) use spin_lock::SpinLock;
