//! A [`Platform`](crate::Platform) made of OS threads, for host tests and
//! the benchmark (feature `std`, and always in this crate's own tests).
//!
//! [`StdPlatform`] maps CPUs to threads; [`StdRuntime`] starts one thread
//! per CPU running [`Executor::run_until`](crate::Executor::run_until) and
//! stops them; [`block_on`] waits for a future on a thread that is not a
//! CPU (a test's main thread).
#![forbid(unsafe_code)]

mod block_on;
mod platform;
mod runtime;

pub use block_on::block_on;
pub use platform::StdPlatform;
pub use runtime::StdRuntime;
