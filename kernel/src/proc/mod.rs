//! Processes: for now, how a program image becomes a load plan (`elf`).
//! The process object, its handle table and its threads join with user
//! mode.

pub mod elf;
