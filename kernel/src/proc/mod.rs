//! Processes.
//!
//! - `crash_report`: what the kernel prints when it kills a process,
//!   with a user backtrace named from `symbols` (the program's `.symtab`);
//! - `elf`: checking a program image and planning its loading;
//! - `stress_ktests`: regression tests of the bugs the SMP stress found;
//! - `handles`: a process's handle table;
//! - `process`: the process object and its exit status;
//! - `relocations`: the `R_X86_64_RELATIVE` relocations of a
//!   position-independent program, for `elf`;
//! - `spawn`: starting a program from the initfs.

#[cfg(not(test))]
pub mod crash_report;
pub mod elf;
#[cfg(not(test))]
pub mod handles;
#[cfg(not(test))]
pub mod process;
pub mod relocations;
#[cfg(not(test))]
pub mod spawn;
#[cfg(not(test))]
mod stress_ktests;
pub mod symbols;
