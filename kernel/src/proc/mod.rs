//! Processes.
//!
//! - `elf`: checking a program image and planning its loading;
//! - `handles`: a process's handle table;
//! - `process`: the process object and its exit status;
//! - `spawn`: starting a program from the initfs.

pub mod elf;
#[cfg(not(test))]
pub mod handles;
#[cfg(not(test))]
pub mod process;
#[cfg(not(test))]
pub mod spawn;
