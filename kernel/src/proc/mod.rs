//! Processes.
//!
//! - `crash_report`: what the kernel prints when it kills a process,
//!   with a user backtrace named from `symbols` (the program's `.symtab`);
//! - `elf`: checking a program image and planning its loading;
//! - `finish_ktests`: how a process's end waits for its page tables;
//! - `handles`: a process's handle table;
//! - `process`: the process object and its exit status;
//! - `relocations`: the `R_X86_64_RELATIVE` relocations of a
//!   position-independent program, for `elf`;
//! - `spawn`: starting a program from the initfs.

#[cfg(not(test))]
pub mod crash_report;
pub mod elf;
#[cfg(not(test))]
mod finish_ktests;
#[cfg(not(test))]
pub mod handles;
#[cfg(not(test))]
pub mod process;
pub mod relocations;
#[cfg(not(test))]
pub mod spawn;
pub mod symbols;
