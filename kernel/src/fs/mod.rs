//! File systems and the byte streams handles name: the initfs (the
//! read-only cpio "newc" archive the boot loader hands over as the
//! `-initrd` module), the console and pipes.
//!
//! - `cpio`: [`Archive`] checks the archive once at boot and indexes it; its
//!   [`Entry`]s borrow file data straight from the module's bytes.
//! - `newc`: the on-disk record format, decoded one record at a time.
//! - `path`: path normalisation shared by archive names and lookups.
//! - `error`: [`CpioError`], mapped to an errno with a static message.
//! - `initfs`: the archive the kernel booted with, parsed once.
//! - `console`: the console's line discipline (what a READ of the
//!   console gets);
//! - `pipe`: pipes, a bounded byte queue between two handles.

// `deny`, not `forbid`: `ktest!` registrations are the one allowed form.
#![deny(unsafe_code)]

pub mod console;
pub mod cpio;
mod error;
#[cfg(not(test))]
pub mod initfs;
mod newc;
mod path;
pub mod pipe;

pub use cpio::{Archive, Entry, EntryKind};
pub use error::CpioError;
