//! The user runtime: what a freestanding user program links against.
//!
//! - [`entry!`] names the program's `main`; `_start` calls it and passes its
//!   return value to [`exit`].
//! - [`syscall`] holds the two trap wrappers.
//! - [`ring`]: the process's ring, as the auxiliary vector announced it, with
//!   a liburing-like API (`get_sqe`, `push`, `submit`, `submit_and_wait`,
//!   `wait_cqe`, `pop`, `cqes`); [`prep`] builds each op's SQE.
//! - [`io`]: console output through the ring; [`print!`] and [`println!`].
//! - [`process`]: spawning programs and waiting for them.
//! - [`fs`]: opening, reading and examining initfs files.
//! - [`args`]: the program's arguments.
//! - [`thread`]: threads of this process; [`futex`]: their waits.
//! - [`stats`]: what the kernel holds (MEM_STATS).
//! - [`checks`]: named checks for guest test programs.
//! - [`measure`]: the TSC, for benchmarks and demos.
//! - [`heap`]: the global allocator, so programs can use `alloc`.
//! - [`task`]: an async executor over the ring: tasks `await` their CQEs.
//! - The panic handler exits with status 101, as Rust's own runtime does.
//!
//! Host tests (`cargo test`) build the crate with std and without the
//! pieces that would clash with it: `_start`, the panic handler and the
//! global allocator.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod checks;
pub mod fs;
pub mod futex;
#[cfg(not(test))]
pub mod heap;
pub mod io;
pub mod measure;
pub mod mm;
pub mod prep;
pub mod process;
pub mod ring;
#[cfg(not(test))]
mod start;
pub mod stats;
pub mod sync;
pub mod syscall;
pub mod task;
pub mod thread;

#[cfg(not(test))]
pub use start::args;
pub use sync::Mutex;
pub use syscall::exit;

/// Declares the program's entry point: `rt::entry!(main);` where
/// `fn main() -> i32`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "Rust" fn __rt_main() -> i32 {
            let main: fn() -> i32 = $main;
            main()
        }
    };
}
