//! The user runtime: what a freestanding user program links against.
//!
//! - [`entry!`] names the program's `main`; `_start` calls it and passes its
//!   return value to [`exit`].
//! - [`syscall`] holds the trap wrappers.
//! - The panic handler exits with status 101, as Rust's own runtime does.
//!
//! The ring API (`get_sqe`, `submit`, `wait_cqe`) and the user executor
//! build on [`syscall::ring_enter`] once the kernel runs user mode.
#![no_std]

mod start;
pub mod syscall;

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
