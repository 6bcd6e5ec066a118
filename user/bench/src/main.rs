//! `bench MODE`: the rows of `scripts/bench` that no demo measures, each
//! printed as one line in the words the Linux peer (tests/bench/linux)
//! prints too, so one parser reads both transcripts.  Counts are TSC
//! ticks: guest instructions under QEMU's `-icount shift=0,sleep=off`.
//!
//! - `bench icount` (one CPU, under icount): boot to this first user
//!   instruction, then `nopbench`, an empty `ring_enter`, thread create
//!   and join, the kernel bytes of a blocked thread, `faults`, and READs
//!   of 4 KiB and 64 KiB from the initfs;
//! - `bench maxthreads`: blocked threads, each on a one-page stack, until
//!   THREAD_SPAWN fails or less than 8 MiB of memory is free;
//! - `bench nopscale N`: N processes (one ring each) doing batched NOPs at
//!   once: ticks per NOP over all CPUs (`nopworker` is one of them);
//! - `bench smp` (two CPUs): `shootdown` with one other thread, and a
//!   futex ping-pong between two threads.
#![no_std]
#![no_main]

extern crate freestanding;

mod smp;
mod threads;

use core::fmt::Write;
use rt::Mutex;
use rt::io::Writer;
use rt::measure::ticks;
use rt::ring::Ring;

rt::entry!(main);

const ENTER_ROUNDS: u64 = 10_000;
const READ_ROUNDS: u64 = 200;
const READ_BYTES: usize = 65_536;
const NOP_BATCH: u32 = 32;
/// Batches each `nopworker` submits.
const NOPSCALE_ROUNDS: u64 = 2_000;

/// The ring, shared by this program's threads.
pub fn ring() -> &'static Mutex<Ring> {
    rt::ring::shared().unwrap_or_else(|_| rt::exit(100))
}

pub fn say(args: core::fmt::Arguments<'_>) {
    let _ = Writer(&mut ring().lock()).write_fmt(args);
}

/// Runs the initfs program `path` with `argv` and waits for it; `false`
/// if it could not run or failed.
pub fn run(path: &str, argv: &[u8]) -> bool {
    let mut ring = ring().lock();
    let status = rt::process::spawn(&mut ring, path, argv)
        .and_then(|child| rt::process::wait(&mut ring, child));
    drop(ring);
    match status {
        Ok(rt::process::WaitStatus::Exited(0)) => true,
        other => {
            say(format_args!("bench: FAIL: {path}: {other:?}\n"));
            false
        }
    }
}

/// The cheapest kernel entry and exit: `ring_enter` with nothing to do.
fn empty_enter() {
    let start = ticks();
    for _ in 0..ENTER_ROUNDS {
        rt::syscall::ring_enter(0, 0, 0, 0);
    }
    say(format_args!(
        "bench: kernel entry and exit: {} ticks (empty ring_enter)\n",
        (ticks() - start) / ENTER_ROUNDS
    ));
}

/// Ticks per byte of a READ of `bytes` from `handle` at offset 0 into a
/// user buffer, one READ per `ring_enter`.
fn read_cost(handle: i32, buffer: &mut [u8]) -> Option<(u64, u64)> {
    let mut start = 0;
    for round in 0..READ_ROUNDS + 10 {
        if round == 10 {
            start = ticks();
        }
        let sqe = rt::prep::read(handle, buffer, 0);
        let read = rt::ring::call(ring(), &sqe, 0).ok()?;
        if read as usize != buffer.len() {
            return None;
        }
    }
    Some((ticks() - start, READ_ROUNDS * buffer.len() as u64))
}

/// READs of 4 KiB and 64 KiB from an initfs file (this program's own
/// image, which is larger than 64 KiB).
fn reads() -> bool {
    static BUFFER: Mutex<[u8; READ_BYTES]> = Mutex::new([0; READ_BYTES]);
    let Ok(handle) = rt::fs::open(&mut ring().lock(), c"bin/bench") else {
        say(format_args!("bench: FAIL: open bin/bench\n"));
        return false;
    };
    let mut buffer = BUFFER.lock();
    for bytes in [4096, READ_BYTES] {
        let Some((elapsed, total)) = read_cost(handle, &mut buffer[..bytes]) else {
            say(format_args!("bench: FAIL: READ of {bytes} bytes\n"));
            return false;
        };
        // Thousandths, without floating-point formatting.
        let milli = elapsed * 1000 / total;
        say(format_args!(
            "bench: READ {} KiB: {}.{:03} ticks per byte\n",
            bytes / 1024,
            milli / 1000,
            milli % 1000
        ));
    }
    let _ = rt::fs::close(&mut ring().lock(), handle);
    true
}

fn icount_rows(first_tick: u64) -> i32 {
    say(format_args!(
        "bench: first user instruction at tick {first_tick}\n"
    ));
    let mut ok = run("bin/nopbench", b"");
    empty_enter();
    ok &= threads::create_and_join();
    ok &= threads::blocked_bytes();
    ok &= run("bin/faults", b"");
    ok &= reads();
    i32::from(!ok)
}

/// One process's share of `nopscale`: batches of NOPs, silently.
fn nop_worker() -> i32 {
    let mut ring = ring().lock();
    for _ in 0..NOPSCALE_ROUNDS {
        for _ in 0..NOP_BATCH {
            if ring.push(&rt::prep::nop()).is_err() {
                return 1;
            }
        }
        if ring.submit_and_wait(NOP_BATCH) != Ok(NOP_BATCH) {
            return 2;
        }
        while ring.pop().is_some() {}
    }
    0
}

/// `processes` NOP workers at once, each with its own ring; the kernel
/// spreads them over the CPUs.  Under icount the TSC counts the
/// instructions of every CPU, so ticks per NOP stays flat when the work
/// scales and grows with contention.
fn nop_scale(processes: u64) -> i32 {
    let start = ticks();
    let mut children = [0; 16];
    let processes = processes.clamp(1, children.len() as u64);
    let mut ring = ring().lock();
    for child in &mut children[..processes as usize] {
        match rt::process::spawn(&mut ring, "bin/bench", b"bench\0nopworker\0") {
            Ok(handle) => *child = handle,
            Err(_) => return 1,
        }
    }
    for &child in &children[..processes as usize] {
        if rt::process::wait(&mut ring, child) != Ok(rt::process::WaitStatus::Exited(0)) {
            return 2;
        }
    }
    drop(ring);
    let nops = processes * NOPSCALE_ROUNDS * u64::from(NOP_BATCH);
    say(format_args!(
        "bench: NOP scaling: {} ticks per NOP with {processes} processes\n",
        (ticks() - start) / nops
    ));
    0
}

fn main() -> i32 {
    let first_tick = ticks();
    let mut args = rt::args().skip(1);
    let mode = args.next().unwrap_or("icount");
    let number = args.next().and_then(|text| text.parse::<u64>().ok());
    match mode {
        "icount" => icount_rows(first_tick),
        "maxthreads" => threads::max_blocked(),
        "maxchild" => threads::max_child(),
        "nopscale" => nop_scale(number.unwrap_or(1)),
        "nopworker" => nop_worker(),
        "smp" => smp::rows(),
        _ => {
            say(format_args!(
                "usage: bench icount | maxthreads | nopscale N | smp\n"
            ));
            2
        }
    }
}
