//! What the kernel prints when it kills a process (a fault, a bad stack,
//! out of memory): why, the thread's registers, and a user backtrace
//! walked along the frame-pointer chain in the process's memory and named
//! from the program's ELF symbol table (the initfs file it was started
//! from, which lives as long as the kernel), at the program's load bias:
//! the addresses printed are where the code ran, the names are looked up
//! at address - bias.
//!
//! ```text
//! crash: process 7 (protnone) killed: page fault (SIGSEGV)
//! crash:   rip 0x401234 rsp 0x7fffffffec80 rbp 0x7fffffffecb0
//! crash:   program loaded at bias 0x400000
//! crash: user backtrace:
//! crash:   #0 0x401234 protnone::read_the_forbidden_page+0x14
//! crash:   #1 0x401302 protnone::main+0x52
//! ```
//!
//! The walk reads each frame through the page tables (`mm::usercopy`), so
//! a corrupt chain ends the trace, never the kernel.
#![forbid(unsafe_code)]

use super::process::ExitStatus;
use super::symbols::{Symbols, frame_chain};
use crate::kprintln;
use crate::sched::thread::Thread;

/// The most frames a report shows.
const MAX_FRAMES: usize = 32;

/// Prints the report for `thread`'s process, killed with `status` (an
/// `exit` prints nothing).
pub fn print(thread: &Thread, status: ExitStatus) {
    let why = match status {
        ExitStatus::Exited(_) => return,
        ExitStatus::Killed(fault) => fault.name(),
        ExitStatus::OutOfMemory => "out of memory",
        ExitStatus::BadStack => "bad stack",
    };
    let process = &thread.process;
    let (rip, rsp, rbp) = {
        let state = thread.state.lock();
        (state.regs.rip, state.regs.rsp, state.regs.rbp)
    };
    kprintln!(
        "crash: process {} ({}) killed: {why} (signal {}), thread {}",
        process.pid,
        process.name,
        status.wait_status() & 0x7f,
        thread.index
    );
    kprintln!("crash:   rip {rip:#x} rsp {rsp:#x} rbp {rbp:#x}");
    let (frames, load_bias) = process
        .with_space(|space| {
            let frames = frame_chain(rip, rbp, MAX_FRAMES, |at| {
                crate::mm::usercopy::read_u64(space, at)
            });
            (frames, space.load_bias())
        })
        .unwrap_or_default();
    let symbols = process.image().and_then(Symbols::new);
    kprintln!("crash:   program loaded at bias {load_bias:#x}");
    kprintln!("crash: user backtrace:");
    for (index, &address) in frames.iter().enumerate() {
        let frame = symbols.as_ref().and_then(|symbols| {
            let is_return = index != 0;
            symbols.frame(address, load_bias, is_return)
        });
        match frame {
            Some((name, offset)) => {
                kprintln!("crash:   #{index} {address:#x} {name}+{offset:#x}")
            }
            None => kprintln!("crash:   #{index} {address:#x}"),
        }
    }
}
