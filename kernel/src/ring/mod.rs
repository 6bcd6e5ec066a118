//! The kernel's side of a process's ring.
//!
//! - `shared`: the [`Ring`] object: the shared mapping (a physically
//!   contiguous block the kernel reads through the direct map and the
//!   process sees at `user_addr`), the SQ consumer, the CQ producer with its
//!   overflow list, and the event that announces every posted CQE;
//! - `enter`: the `ring_enter` trap: take SQEs (each copied exactly once),
//!   hand them to `submit`, and decide whether the thread waits;
//! - `submit`: lone ops, IO_LINK chains with LINK_TIMEOUT, IO_DRAIN
//!   barriers, ASYNC_CANCEL;
//! - `inflight`: the running ops, their cancel tokens, and drain waits;
//! - `check`: what every SQE must pass before its op starts (host-tested).

pub mod check;
#[cfg(not(test))]
pub mod enter;
#[cfg(not(test))]
mod inflight;
#[cfg(not(test))]
mod ktests;
#[cfg(not(test))]
mod shared;
#[cfg(not(test))]
mod submit;

#[cfg(not(test))]
pub use shared::Ring;
