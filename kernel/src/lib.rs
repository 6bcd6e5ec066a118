//! The kernel: an async-first x86_64 kernel with io_uring-style completion
//! syscalls.  See the README for the tour and DESIGN.md for the plan.
//!
//! Hardware lives under `arch`; the rest of the kernel is written against
//! the functions `arch` exports.  The pure logic (memory map, frame
//! allocator, command line, firmware parsers) also builds for the host,
//! where `cargo test` runs it; the hardware modules are compiled out there.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

#[cfg(not(test))]
pub mod arch {
    //! The architecture boundary.
    mod x86_64;
    pub use x86_64::*;
}

#[cfg(not(test))]
mod bench;
pub mod boot;
#[cfg(not(test))]
mod crash;
pub mod firmware;
pub mod fs;
#[cfg(not(test))]
mod init;
pub mod ktest;
pub mod log;
pub mod mm;
#[cfg(not(test))]
pub mod ops;
#[cfg(not(test))]
pub mod panic;
pub mod proc;
pub mod ring;
pub mod sched;
#[cfg(test)]
mod test_rng;
#[cfg(not(test))]
pub mod time;

#[cfg(not(test))]
pub use init::{ap_main, kmain};
