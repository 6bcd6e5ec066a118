//! `fuzz [SEED [COUNT]]`: the guest fuzzer.  Proves, a seed at a time,
//! that no SQE a program can write hurts the kernel: no panic, no hang, no
//! leak, and every result one the op's contract allows.
//!
//! The parent prints its seed (from the TSC when none is given), then runs
//! workers, each a child process (`fuzz worker MODE SEED COUNT`) that
//! exits with the number of violations it saw:
//!
//! - `sqes` (`sqes`): random and boundary SQEs against every opcode and
//!   unknown ones, aimed at kernel addresses, holes, guard pages,
//!   `PROT_NONE` pages and wrapping lengths; chains, skipped successes,
//!   deliveries to threads that do not exist, cancels of recent SQEs;
//! - `ring` (`ring_abuse`): SQ and CQ heads and tails overwritten by the
//!   program, bad `ring_enter` arguments, and a CQ never reaped;
//! - `storm` (`storms`): thousands of pending timeouts, cancel storms,
//!   long link chains, and an exit with all of it in flight.
//!
//! Before the first worker and after the last, the parent reads
//! MEM_STATS: the kernel must be back to exactly the free frames (and
//! heap bytes, live tasks and threads) it had.  A kernel panic or hang
//! ends the run (the harness sees it); a killed worker is a failure.  The
//! parent exits with the number of failures.
#![no_std]
#![no_main]

extern crate freestanding;

mod contract;
mod ring_abuse;
mod rng;
mod sqes;
mod storms;
mod targets;
mod usage;

use abi::{Errno, Opcode, Sqe};
use core::fmt::Write;
use rt::io::Writer;
use rt::process::WaitStatus;
use rt::ring::Ring;

rt::entry!(main);

/// SQEs in a run with no COUNT: well under a minute in TCG.
const DEFAULT_COUNT: u64 = 12_000;

/// The largest share of a run one `sqes` worker takes.
const SQES_PER_WORKER: u64 = 3_000;

/// Header corruptions a `ring` worker makes.
const RING_COUNT: u64 = 300;

/// Timeouts a `storm` worker leaves pending (half of them cancelled).
const STORM_COUNT: u64 = 2_000;

fn main() -> i32 {
    let mut args = rt::args().skip(1);
    match args.next() {
        Some("worker") => {
            let mode = args.next().unwrap_or("");
            let seed = args.next().and_then(parse).unwrap_or(0);
            let count = args.next().and_then(parse).unwrap_or(0);
            let only = args.next().and_then(parse).map(|op| op as u8);
            worker(mode, seed, count, only)
        }
        first => {
            let seed = first.and_then(parse).unwrap_or_else(rng::seed_from_tsc);
            let count = args.next().and_then(parse).unwrap_or(DEFAULT_COUNT);
            let only = args.next().and_then(parse);
            match Ring::take() {
                Ok(mut ring) => parent(&mut ring, seed, count, only),
                Err(_) => 100,
            }
        }
    }
}

/// A decimal or `0x` hexadecimal number.
fn parse(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Submits `sqe` and waits for its result, setting other CQEs aside.
pub fn run(ring: &mut Ring, mut sqe: Sqe) -> Result<u32, Errno> {
    sqe.user_data = u64::MAX - 0x100;
    ring.push(&sqe)?;
    ring.submit()?;
    rt::ring::result(&ring.wait_for(sqe.user_data)?)
}

fn worker(mode: &str, seed: u64, count: u64, only: Option<u8>) -> i32 {
    match mode {
        "sqes" => {
            let Ok(mut ring) = Ring::take() else {
                return 100;
            };
            if targets::map_arena(&mut ring).is_err() {
                return 101;
            }
            let mut fuzzer = sqes::Fuzzer::new(seed, only);
            fuzzer.run(&mut ring, count);
            report(&mut ring, &fuzzer)
        }
        "ring" => ring_abuse::run(seed, count),

        "storm" => storms::run(seed, count),
        _ => 102,
    }
}

/// Prints the worker's count and its first violations; returns how many.
fn report(ring: &mut Ring, fuzzer: &sqes::Fuzzer) -> i32 {
    let violations = &fuzzer.violations;
    for &(serial, sqe, res) in violations.first.iter().take(violations.count as usize) {
        let name = match Opcode::from_raw(sqe.opcode) {
            Some(op) => op_name(op),
            None => "unknown",
        };
        let _ = writeln!(
            Writer(ring),
            "fuzz: VIOLATION sqe #{serial}: opcode {} ({name}) flags {:#x} len {:#x} -> res {res}",
            sqe.opcode,
            sqe.flags,
            sqe.len,
        );
    }
    violations.count.min(99) as i32
}

fn op_name(op: Opcode) -> &'static str {
    match op {
        Opcode::Nop => "NOP",
        Opcode::Timeout => "TIMEOUT",
        Opcode::AsyncCancel => "ASYNC_CANCEL",
        Opcode::LinkTimeout => "LINK_TIMEOUT",
        Opcode::OpenAt => "OPENAT",
        Opcode::Close => "CLOSE",
        Opcode::Statx => "STATX",
        Opcode::Read => "READ",
        Opcode::Write => "WRITE",
        Opcode::MsgRing => "MSG_RING",
        Opcode::FutexWait => "FUTEX_WAIT",
        Opcode::FutexWake => "FUTEX_WAKE",
        Opcode::Pipe => "PIPE",
        Opcode::Mmap => "MMAP",
        Opcode::Munmap => "MUNMAP",
        Opcode::Mprotect => "MPROTECT",
        Opcode::ThreadSpawn => "THREAD_SPAWN",
        Opcode::ProcessSpawn => "PROCESS_SPAWN",
        Opcode::Wait => "WAIT",
        Opcode::VmQuery => "VM_QUERY",
        Opcode::MemStats => "MEM_STATS",
        Opcode::SpaceClone => "SPACE_CLONE",
        Opcode::RemapPages => "REMAP_PAGES",
    }
}

/// One worker to run: its mode and how many SQEs (or timeouts, or
/// header corruptions) it does.
struct Job {
    mode: &'static str,
    count: u64,
}

/// The workers of a run of `count` SQEs: `sqes` workers share it, and
/// every fourth worker is a `ring` or a `storm` one.
fn jobs(count: u64, mut each: impl FnMut(Job) -> bool) {
    let mut left = count;
    let mut index = 0u64;
    while left > 0 {
        let job = match index % 4 {
            1 => Job {
                mode: "ring",
                count: RING_COUNT,
            },
            3 => Job {
                mode: "storm",
                count: STORM_COUNT,
            },
            _ => {
                let share = left.min(SQES_PER_WORKER);
                left -= share;
                Job {
                    mode: "sqes",
                    count: share,
                }
            }
        };
        if !each(job) {
            return;
        }
        index += 1;
    }
}

fn parent(ring: &mut Ring, seed: u64, count: u64, only: Option<u64>) -> i32 {
    let _ = writeln!(
        Writer(ring),
        "fuzz: seed {seed:#x}, {count} SQEs (again: scripts/fuzz {seed:#x} {count})"
    );
    let mut failures = 0;
    // A warm-up worker of each mode first, as large as the largest of the
    // run: the kernel's heap takes pages for a size class as its peak
    // grows and keeps them (until the slab allocator gives empty pages
    // back), which must not read as a leak.
    for (mode, count) in [
        ("sqes", SQES_PER_WORKER.min(count)),
        ("ring", RING_COUNT),
        ("storm", STORM_COUNT),
    ] {
        failures += spawn_worker(ring, mode, seed ^ 0x5eed, count, only);
    }
    let before = usage::settled(ring, None);
    let mut worker_seed = rng::Rng::new(seed);
    let (mut workers, mut fuzzed) = (0u64, 0u64);
    jobs(count, |job| {
        let seed = worker_seed.next();
        let was = usage::settled(ring, None);
        failures += spawn_worker(ring, job.mode, seed, job.count, only);
        let is = usage::settled(ring, Some(&was));
        if is.free_frames != was.free_frames {
            let _ = writeln!(
                Writer(ring),
                "fuzz: worker {} {seed:#x} {}: free frames {} -> {}",
                job.mode,
                job.count,
                was.free_frames,
                is.free_frames
            );
        }
        workers += 1;
        if job.mode == "sqes" {
            fuzzed += job.count;
        }
        true
    });
    let after = usage::settled(ring, Some(&before));
    let leaks = usage::compare(ring, &before, &after);
    failures += leaks;
    let verdict = if failures == 0 { "ok" } else { "FAIL" };
    let _ = writeln!(
        Writer(ring),
        "fuzz: {verdict}: {fuzzed} SQEs fuzzed in {workers} workers (seed {seed:#x}); \
         {failures} failures; free frames {} -> {}, heap bytes {} -> {}, live tasks {} -> {}",
        before.free_frames,
        after.free_frames,
        before.heap_bytes,
        after.heap_bytes,
        before.live_tasks,
        after.live_tasks,
    );
    failures as i32
}

/// Runs one worker to its end; returns 1 if it failed (violations, or a
/// kill), else 0.
fn spawn_worker(ring: &mut Ring, mode: &str, seed: u64, count: u64, only: Option<u64>) -> u32 {
    let mut argv = [0u8; 96];
    let mut cursor = Cursor {
        bytes: &mut argv,
        len: 0,
    };
    let _ = write!(cursor, "fuzz\0worker\0{mode}\0{seed:#x}\0{count}\0");
    if let Some(opcode) = only {
        let _ = write!(cursor, "{opcode}\0");
    }
    let len = cursor.len;
    let handle = match spawn(ring, &argv[..len]) {
        Ok(handle) => handle,
        Err(errno) => {
            let _ = writeln!(Writer(ring), "fuzz: FAIL spawning a worker: {errno}");
            return 1;
        }
    };
    let status = wait_ignoring_messages(ring, handle);
    drain(ring);
    if status == Ok(WaitStatus::Exited(0)) {
        return 0;
    }
    let _ = writeln!(
        Writer(ring),
        "fuzz: FAIL worker {mode} (seed {seed:#x}, count {count}) ended {status:?}; \
         again: fuzz worker {mode} {seed:#x} {count}"
    );
    1
}

fn spawn(ring: &mut Ring, argv: &[u8]) -> Result<i32, Errno> {
    let path = "bin/fuzz";
    let sqe = Sqe {
        addr: path.as_ptr() as u64,
        len: path.len() as u32,
        off: argv.as_ptr() as u64,
        op_flags: argv.len() as u32,
        ..Sqe::new(Opcode::ProcessSpawn)
    };
    run(ring, sqe).map(|handle| handle as i32)
}

/// `user_data` of the parent's WAIT: workers' MSG_RINGs to the parent
/// never reach the top half of the range.
const WAIT_USER_DATA: u64 = u64::MAX - 0x200;

/// WAITs for the child behind `handle`, dropping the CQEs its MSG_RINGs
/// post here meanwhile (however many: a full CQ spills into the kernel's
/// overflow list, which this drains as it goes).
fn wait_ignoring_messages(ring: &mut Ring, handle: i32) -> Result<WaitStatus, Errno> {
    let sqe = Sqe {
        fd: handle,
        user_data: WAIT_USER_DATA,
        ..Sqe::new(Opcode::Wait)
    };
    ring.push(&sqe)?;
    loop {
        match ring.submit_and_wait(1) {
            Ok(_) | Err(Errno::EBUSY) => {}
            Err(errno) => return Err(errno),
        }
        while let Some(cqe) = ring.pop() {
            if cqe.user_data == WAIT_USER_DATA {
                return rt::ring::result(&cqe).map(WaitStatus::from_raw);
            }
        }
    }
}

/// Drops every CQE ready, the kernel's overflow list included: the noise
/// a worker's MSG_RINGs left (none arrives once it has ended).
fn drain(ring: &mut Ring) {
    loop {
        let _ = ring.submit();
        if ring.pop().is_none() {
            return;
        }
        while ring.pop().is_some() {}
    }
}

/// `core::fmt` into a byte buffer (the worker's argv block).
struct Cursor<'a> {
    bytes: &'a mut [u8],
    len: usize,
}

impl Write for Cursor<'_> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        let end = self.len + text.len();
        let room = self.bytes.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        room.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}
