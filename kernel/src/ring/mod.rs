//! The kernel's side of a process's ring.
//!
//! - `shared`: the [`Ring`] object: the shared mapping (a physically
//!   contiguous block the kernel reads through the direct map and the
//!   process sees at `user_addr`), the SQ consumer, the CQ producer with its
//!   overflow list, and the event that announces every posted CQE;
//! - `enter`: the `ring_enter` trap: take SQEs (each copied exactly once),
//!   start their op futures, and decide whether the thread waits.

pub mod enter;
mod shared;

pub use shared::Ring;
