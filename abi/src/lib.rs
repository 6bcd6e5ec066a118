//! The user/kernel ABI shared by the kernel and every user program.
//!
//! Today it holds the trap numbers and the errno values; the ring layout
//! (SQE/CQE, the shared header) joins it with the ring work.  Everything
//! here is plain data with a fixed layout, so it builds and tests on the host.
#![cfg_attr(not(test), no_std)]

mod errno;
mod syscall;

pub use errno::Errno;
pub use syscall::Syscall;
