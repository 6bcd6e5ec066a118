//! The user/kernel ABI shared by the kernel and every user program
//! (DESIGN.md section 7).
//!
//! - [`Syscall`]: the two trap numbers, `ring_enter` and `exit`;
//! - [`Sqe`] and [`Cqe`]: ring entries, io_uring's 64- and 16-byte layouts;
//! - [`Opcode`]: what an SQE asks for, with each op's field usage tabled in
//!   [`opcode`];
//! - [`flags`]: SQE, CQE, `ring_enter`, ring-header and memory flag words;
//! - [`ring`]: the shared mapping's layout and the atomic accessors both
//!   sides build their queues on;
//! - [`Errno`] / [`RawErrno`]: Linux errno values, the one error type;
//! - [`Timespec`], [`SpawnStdio`]: argument blocks SQEs point at.
//!
//! Everything except [`ring::RawRing`] is plain data with a fixed layout and
//! no `unsafe`, so it builds and tests on the host.
#![cfg_attr(not(test), no_std)]

mod args;
pub mod auxv;
mod cqe;
mod errno;
pub mod file;
pub mod flags;
pub mod opcode;
pub mod ring;
mod sqe;
mod syscall;

pub use args::{SpawnStdio, Timespec};
pub use cqe::Cqe;
pub use errno::{Errno, RawErrno};
pub use flags::{
    CqRingFlags, CqeFlags, EnterFlags, MapFlags, ProtFlags, SqRingFlags, SqeFlags, TimeoutFlags,
};
pub use opcode::Opcode;
pub use sqe::{Sqe, deliver_to_thread};
pub use syscall::{EXIT_THREAD, Syscall};
