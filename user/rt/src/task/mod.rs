//! A small async executor over the process's ring, so user code can
//! `await` its CQEs.
//!
//! ```ignore
//! let mut executor = rt::task::Executor::new(Ring::take()?);
//! let handle = executor.handle();
//! executor.spawn(async move {
//!     handle.sleep(10_000_000).await?;            // a TIMEOUT
//!     let (count, _) = handle.write(1, "hi\n").await;
//!     count.map(|_| ())
//! });
//! executor.run();                                // until every task is done
//! ```
//!
//! - `executor`: [`Executor`] (spawn, `run`, `block_on`), [`Handle`] and
//!   [`JoinHandle`].  One thread, one ring; tasks need not be `Send`.
//! - `op`: [`Op`], the future of one SQE, which owns the buffers the SQE
//!   names; the rule for dropping one in flight is written there.
//! - `ops`: the ops on a [`Handle`]: `nop`, `sleep`, `read`, `write`,
//!   `open`, `close`, and the raw `op`/`op_with`.
//! - `reactor`: the `user_data` → op table, CQE reaping, and the blocking
//!   `ring_enter`; [`Stats`] says what it did.
//! - `slots`: the generation-tagged table under both tasks and ops.
//!
//! Why not the kernel's `executor` crate: it is built for per-CPU run
//! queues, work stealing, `Send` tasks on a leaked `'static` runtime and
//! wakes from interrupt handlers; here there is one thread, and idling
//! means a `ring_enter` that reaps CQEs.

mod executor;
mod op;
mod ops;
mod reactor;
mod slots;

pub use executor::{Executor, Handle, JoinHandle};
pub use op::Op;
pub use ops::BufResult;
pub use reactor::Stats;
