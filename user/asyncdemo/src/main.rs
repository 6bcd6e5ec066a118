//! `asyncdemo`: six tasks on `rt::task`'s executor, one thread, one ring,
//! each awaiting its own CQEs:
//!
//! - three TIMEOUTs, spawned as 60, 20 and 40 ms: they finish 20, 40, 60;
//! - three NOPs, and OPENAT/READ/CLOSE of `etc/motd`: done at once;
//! - a 10 s TIMEOUT whose op is dropped after 5 ms: the executor cancels
//!   it, and frees its timespec only once its CQE is in.
//!
//! The thread enters the kernel to block only when no task can run, one
//! `ring_enter` at a time.  The program checks each result and the order,
//! prints what it measured (TSC ticks: user space does not know the TSC's
//! rate), and exits with the number of checks that failed.
#![no_std]
#![no_main]

extern crate alloc;
extern crate freestanding;

use abi::Errno;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use rt::ring::Ring;
use rt::task::{Executor, Handle};

rt::entry!(main);

const MS: u64 = 1_000_000;

/// The timers, in spawn order: name and duration.
const TIMERS: [(&str, u64); 3] = [
    ("TIMEOUT 60 ms", 60),
    ("TIMEOUT 20 ms", 20),
    ("TIMEOUT 40 ms", 40),
];
const DROPPED: &str = "10 s TIMEOUT, dropped";
const NOPS: &str = "3 NOPs";
const MOTD: &str = "READ etc/motd";

fn ticks() -> u64 {
    // SAFETY: RDTSC has no side effects and is allowed in user mode.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Tasks in the order they finished, with the TSC ticks since the start.
#[derive(Clone)]
struct Finishes {
    start: u64,
    log: Rc<RefCell<Vec<(&'static str, u64)>>>,
}

impl Finishes {
    fn record(&self, name: &'static str) {
        self.log.borrow_mut().push((name, ticks() - self.start));
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.log.borrow().iter().position(|(done, _)| *done == name)
    }
}

/// Failed checks, said as they fail.
struct Checks {
    handle: Handle,
    failures: i32,
}

impl Checks {
    async fn say(&self, text: String) {
        let _ = self.handle.write(1, text).await;
    }

    async fn check(&mut self, ok: bool, what: &str) {
        if !ok {
            self.failures += 1;
            self.say(format!("asyncdemo: FAILED: {what}\n")).await;
        }
    }
}

async fn timer(handle: Handle, finishes: Finishes, name: &'static str, ms: u64) -> bool {
    let result = handle.sleep(ms * MS).await;
    finishes.record(name);
    result.is_ok()
}

async fn nops(handle: Handle, finishes: Finishes) -> Vec<Result<u32, Errno>> {
    // Made together, so they reach the kernel in one ring_enter.
    let ops: Vec<_> = (0..3).map(|_| handle.nop()).collect();
    let mut results = Vec::new();
    for op in ops {
        results.push(op.await);
    }
    finishes.record(NOPS);
    results
}

/// The file's bytes, and what a second READ got (0: end of file).
async fn motd(
    handle: Handle,
    finishes: Finishes,
) -> Result<(Vec<u8>, usize), (&'static str, Errno)> {
    let file = handle.open("etc/motd").await.map_err(|e| ("open", e))?;
    let (count, mut text) = handle.read(file, vec![0; 4096]).await;
    text.truncate(count.map_err(|e| ("read", e))?);
    let (rest, _) = handle.read(file, vec![0; 64]).await;
    let rest = rest.map_err(|e| ("read", e))?;
    handle.close(file).await.map_err(|e| ("close", e))?;
    finishes.record(MOTD);
    Ok((text, rest))
}

/// Submits a 10 s TIMEOUT, sleeps 5 ms, and drops the TIMEOUT's op.
async fn drop_in_flight(handle: Handle, finishes: Finishes) -> bool {
    let long = handle.sleep(10_000 * MS);
    let short = handle.sleep(5 * MS).await;
    drop(long);
    finishes.record(DROPPED);
    short.is_ok()
}

/// Spawns the tasks, checks what each got and the order they finished
/// in.  Returns the checks and the ticks the last timer took.
async fn demo(handle: Handle, start: u64) -> (Checks, u64) {
    let finishes = Finishes {
        start,
        log: Rc::default(),
    };
    let timers: Vec<_> = TIMERS
        .iter()
        .map(|&(name, ms)| handle.spawn(timer(handle.clone(), finishes.clone(), name, ms)))
        .collect();
    let nops = handle.spawn(nops(handle.clone(), finishes.clone()));
    let motd = handle.spawn(motd(handle.clone(), finishes.clone()));
    let dropped = handle.spawn(drop_in_flight(handle.clone(), finishes.clone()));
    let mut checks = Checks {
        handle: handle.clone(),
        failures: 0,
    };
    checks
        .say(format!(
            "asyncdemo: spawned {}, {}, {}, {NOPS}, {MOTD}, {DROPPED} after 5 ms\n",
            TIMERS[0].0, TIMERS[1].0, TIMERS[2].0
        ))
        .await;

    let mut expired = true;
    for timer in timers {
        expired &= timer.await;
    }
    checks
        .check(expired, "every TIMEOUT expires (-ETIME)")
        .await;
    let nops = nops.await;
    checks
        .check(nops == [Ok(0); 3], "every NOP completes with 0")
        .await;
    match motd.await {
        Ok((text, rest)) => {
            let first = text.split(|&b| b == b'\n').next().unwrap_or(&[]);
            checks
                .say(format!(
                    "asyncdemo: read {} bytes of etc/motd, then end of file; it begins \"{}\"\n",
                    text.len(),
                    String::from_utf8_lossy(first)
                ))
                .await;
            checks
                .check(!text.is_empty(), "etc/motd is not empty")
                .await;
            checks
                .check(rest == 0, "a second READ is at end of file")
                .await;
        }
        Err((step, errno)) => {
            checks
                .check(false, &format!("etc/motd: {step}: {errno}"))
                .await;
        }
    }
    checks
        .check(
            dropped.await,
            "the 5 ms TIMEOUT beside the dropped one expires",
        )
        .await;

    let log = finishes.log.borrow().clone();
    checks
        .say(String::from(
            "asyncdemo: the tasks finished in this order:\n",
        ))
        .await;
    for (index, (name, ticks)) in log.iter().enumerate() {
        checks
            .say(format!(
                "asyncdemo:   {}. {name:<22} {:>6}.{:03} M TSC ticks after the start\n",
                index + 1,
                ticks / 1_000_000,
                ticks / 1_000 % 1_000
            ))
            .await;
    }
    // Deadline order: 5 ms (the dropped one's neighbour), 20, 40, 60.
    let order =
        [DROPPED, TIMERS[1].0, TIMERS[2].0, TIMERS[0].0].map(|name| finishes.position(name));
    checks
        .check(
            order.iter().all(Option::is_some) && order.windows(2).all(|pair| pair[0] < pair[1]),
            "timers finish in deadline order",
        )
        .await;
    let last_timer = log
        .iter()
        .find(|(name, _)| *name == TIMERS[0].0)
        .map_or(0, |&(_, t)| t);
    (checks, last_timer)
}

fn main() -> i32 {
    let Ok(ring) = Ring::take() else {
        return 100;
    };
    let mut executor = Executor::new(ring);
    let start = ticks();
    let (mut checks, last_timer) = executor.block_on(demo(executor.handle(), start));
    // Returns once the dropped TIMEOUT's CQE is in and its timespec freed.
    executor.run();
    let elapsed = ticks() - start;
    let stats = executor.stats();
    executor.block_on(async move {
        checks
            .say(format!(
                "asyncdemo: one thread: {} ops, {} CQEs, {} blocking ring_enter calls, {} of them returned empty\n",
                stats.submitted, stats.reaped, stats.waits, stats.empty_waits
            ))
            .await;
        checks
            .say(format!(
                "asyncdemo: dropped ops whose CQE came back (their buffers freed then): {}; all done {}.{:03} M TSC ticks after the start\n",
                stats.orphans_reaped,
                elapsed / 1_000_000,
                elapsed / 1_000 % 1_000
            ))
            .await;
        checks
            .check(stats.empty_waits == 0, "every blocking ring_enter returned a CQE")
            .await;
        checks
            .check(stats.orphans_reaped == 1, "the dropped op's CQE is reaped")
            .await;
        // Not 10 s: within a few times the 60 ms timer, however slow the
        // machine's clock runs against the TSC.
        checks
            .check(elapsed < 10 * last_timer, "the dropped op did not hold the run for 10 s")
            .await;
        checks.failures
    })
}
