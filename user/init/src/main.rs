//! `init`: the first program.  Runs the demos one after another, prints
//! how each ended (a small process tree with exit statuses), and exits;
//! the kernel powers off when it does.
#![no_std]
#![no_main]

extern crate freestanding;

use core::fmt::Write;
use rt::io::Writer;
use rt::process::{self, WaitStatus};
use rt::ring::Ring;

rt::entry!(main);

/// The demos: the program, its argv block, and what it shows.
const DEMOS: [(&str, &[u8], &str); 18] = [
    ("bin/hello", b"", "a WRITE through the ring"),
    (
        "bin/cat",
        b"cat\0etc/motd\0",
        "OPENAT, READ and CLOSE on an initfs file",
    ),
    ("bin/nopbench", b"", "what a NOP costs through the ring"),
    ("bin/timeouts", b"", "a linked timeout and a cancel"),
    (
        "bin/asyncdemo",
        b"",
        "async tasks awaiting their CQEs on one thread: timers finish in deadline order",
    ),
    (
        "bin/pingpong",
        b"",
        "two processes bouncing messages with MSG_RING",
    ),
    (
        "bin/threads",
        b"",
        "10,000 threads blocked on a futex, and what each costs the kernel",
    ),
    (
        "bin/spawn",
        b"spawn\x002\x00",
        "a process tree: statuses summed up from the leaves",
    ),
    (
        "bin/sh",
        b"sh\x00-c\x00echo piped through cat | cat | cat\x00",
        "the shell running a pipeline: echo | cat | cat over PIPEs",
    ),
    (
        "bin/cow",
        b"",
        "fork on SPACE_CLONE: copy-on-write pages, MAP_SHARED memory, a READ in flight across the fork",
    ),
    (
        "bin/pin",
        b"",
        "pinned buffers: MUNMAP waits for a READ's CQE; READs past the pin depth wait",
    ),
    (
        "bin/vmquery",
        b"",
        "the region table (VM_QUERY): stacks, ring, image, file and anonymous mappings",
    ),
    (
        "bin/faults",
        b"",
        "demand paging: what a demand-zero fault costs per page, zeroing included",
    ),
    (
        "bin/shootdown",
        b"",
        "mmap + touch + munmap while threads of the space run on the other CPUs: the TLB shootdown's cost",
    ),
    ("bin/true", b"", "a program that only exits"),
    (
        "bin/fault",
        b"",
        "a program the kernel kills for a page fault; nothing else is hurt",
    ),
    (
        "bin/protnone",
        b"",
        "a read of a PROT_NONE page: killed, with a crash report and a symbolized user backtrace",
    ),
    (
        "bin/stackguard",
        b"",
        "a thread whose stack pointer leaves its stack: the process is killed for a bad stack",
    ),
];

fn main() -> i32 {
    let Ok(mut ring) = Ring::take() else {
        return 1;
    };
    let _ = writeln!(Writer(&mut ring), "init: running {} demos", DEMOS.len());
    let mut failures = 0;
    // `init quick` (the test suite's boots): the threads demo with 300
    // threads instead of 10,000, so automated runs stay short.
    let quick = rt::args().nth(1) == Some("quick");
    for (path, argv, what) in DEMOS {
        // `quick`: shorter runs of the long demos.
        let argv: &[u8] = match (quick, path) {
            (true, "bin/threads") => b"threads\x00300\x00",
            (true, "bin/shootdown") => b"shootdown\x001\x0020\x00",
            _ => argv,
        };
        let _ = writeln!(Writer(&mut ring), "init: --- {path}: {what}");
        let outcome =
            process::spawn(&mut ring, path, argv).and_then(|child| process::wait(&mut ring, child));
        let _ = match outcome {
            Ok(WaitStatus::Exited(status)) => writeln!(
                Writer(&mut ring),
                "init: {path} exited with status {status}"
            ),
            Ok(WaitStatus::Signaled(signal)) => {
                writeln!(
                    Writer(&mut ring),
                    "init: {path} was killed by signal {signal}"
                )
            }
            Err(errno) => {
                failures += 1;
                writeln!(Writer(&mut ring), "init: {path} could not run: {errno}")
            }
        };
    }
    let _ = writeln!(Writer(&mut ring), "init: done");
    failures
}
