//! The parent: starts the workers, stops them when the time is up, adds
//! up what they did, checks the kernel gave everything back, and prints
//! the summary line.

use crate::counts::{KINDS, Kind};
use crate::usage::{self, Usage};
use crate::worker::{COUNT_TAG, STOP};
use abi::Sqe;
use alloc::format;
use alloc::vec::Vec;
use core::fmt::Write;
use rt::io::Writer;
use rt::process::WaitStatus;
use rt::ring::Ring;

const WAIT_TAG: u64 = 0x3a17_0000;
const TIMER: u64 = 0x7133;
const STOP_SENT: u64 = 0x5708;
const CANCEL: u64 = 0xca9c;
const MAX_WORKERS: u64 = 64;

/// How long the workers run.
#[derive(Clone, Copy)]
enum Length {
    Seconds(u64),
    Rounds(u64),
}

/// Rounds per thread of the warm-up worker.
const WARM_UP_ROUNDS: u64 = 60;

/// What the kernel may hold after the run beyond what it held before.
/// Frames: a slab class's partly filled slabs can end spread over a few
/// more frames than before with the same objects in them.
const FRAME_SLACK: i64 = 8;
/// Tasks and slab objects: none.  (A run seemed to end with one task
/// more about one time in three; it was the parent's own park task,
/// still finishing on another CPU when MEM_STATS ran: `usage::now`.)
const TASK_SLACK: i64 = 0;

/// The growth each figure may show.
fn slack(name: &str) -> i64 {
    match name {
        "frames" => FRAME_SLACK,
        "tasks" | "slab objects" => TASK_SLACK,
        _ => 0,
    }
}

pub fn main<'a>(first: Option<&'a str>, mut rest: impl Iterator<Item = &'a str>) -> i32 {
    let length = match first {
        Some(rounds) if rounds.starts_with('x') => {
            crate::number(Some(&rounds[1..])).map(Length::Rounds)
        }
        seconds => Some(Length::Seconds(crate::number(seconds).unwrap_or(20))),
    };
    let processes = crate::number(rest.next()).unwrap_or(4);
    let threads = crate::number(rest.next()).unwrap_or(4);
    let seed = crate::number(rest.next()).unwrap_or_else(rt::measure::ticks);
    let mix = crate::number(rest.next()).unwrap_or(crate::worker::mix::ALL);
    let Ok(mut ring) = Ring::take() else {
        return 2;
    };
    let Some(length) = length.filter(|_| {
        (1..=MAX_WORKERS).contains(&processes)
            && (1..=crate::worker::MAX_THREADS as u64).contains(&threads)
    }) else {
        say(
            &mut ring,
            "stress: usage: stress [SECONDS|xROUNDS] [PROCESSES 1-64] [THREADS 1-16] [SEED]",
        );
        return 2;
    };
    let described = match length {
        Length::Seconds(seconds) => format!("for {seconds} s"),
        Length::Rounds(rounds) => format!("for {rounds} rounds a thread"),
    };
    say(
        &mut ring,
        &format!(
            "stress: {processes} processes x {threads} threads {described}, seed {seed:#x}, mix {mix}"
        ),
    );
    let plan = |processes, length, seed| Batch {
        processes,
        threads,
        length,
        seed,
        mix,
    };
    let warm_up = run(&mut ring, plan(1, Length::Rounds(WARM_UP_ROUNDS), seed ^ 1));
    usage::calibrate(&mut ring);
    let before = usage::settled(&mut ring, None);
    let outcome = run(&mut ring, plan(processes, length, seed));
    let mut after = usage::settled(&mut ring, Some(&before));
    let leaked = |after: &Usage| {
        after
            .growth(&before)
            .iter()
            .any(|&(name, grown)| grown > slack(name))
    };
    if leaked(&after) {
        // Whether it goes away given time and a turn of every CPU's loop
        // (a task freed off its CPU is freed there): slow teardown, or a
        // leak.
        usage::sleep(&mut ring, 5_000_000_000);
        let _ = run(&mut ring, plan(processes, Length::Rounds(1), seed ^ 2));
        let later = usage::settled(&mut ring, Some(&before));
        let later_growth = later.growth(&before);
        say(
            &mut ring,
            &format!("stress: 5 s later, kernel after vs before: {later_growth:?}"),
        );
        after = later;
    }
    let growth = after.growth(&before);
    let leaked = leaked(&after);
    let failures =
        outcome.totals[Kind::Failures as usize] + warm_up.totals[Kind::Failures as usize];
    let pass = outcome.bad_exits == 0 && warm_up.bad_exits == 0 && failures == 0 && !leaked;
    let mut line = format!(
        "stress: {}: {processes} processes x {threads} threads {described}, seed {seed:#x}, mix {mix}:",
        if pass { "PASS" } else { "FAIL" }
    );
    for kind in Kind::ALL {
        let _ = write!(line, " {} {},", outcome.totals[kind as usize], kind.name());
    }
    let _ = write!(
        line,
        " {} bad exits; kernel after vs before:",
        outcome.bad_exits + warm_up.bad_exits
    );
    for (name, grown) in growth {
        let _ = write!(line, " {name} {grown:+}");
    }
    let _ = write!(
        line,
        " (slack: frames {FRAME_SLACK}, tasks and slab objects {TASK_SLACK}; in use before: {} frames, {} slab objects, {} tasks, {} threads)",
        before.frames, before.slab_objects, before.tasks, before.threads
    );
    let before_usage_bytes = |class: usize| before.class_bytes[class];
    // Which classes moved, when the run failed (the parent's own tables
    // move objects between classes even when nothing leaked).
    for (class, (&after, &before)) in after
        .class_objects
        .iter()
        .zip(&before.class_objects)
        .enumerate()
    {
        if after != before && !pass {
            let bytes = before_usage_bytes(class);
            let _ = write!(line, "; {bytes}-byte slab objects {before} -> {after}");
        }
    }
    say(&mut ring, &line);
    i32::from(!pass)
}

fn say(ring: &mut Ring, line: &str) {
    let _ = writeln!(Writer(ring), "{line}");
}

/// What a batch of workers did.
struct Outcome {
    totals: [u64; KINDS],
    bad_exits: u64,
}

/// A batch of workers.
struct Batch {
    processes: u64,
    threads: u64,
    length: Length,
    seed: u64,
    mix: u64,
}

/// Runs a batch of workers and waits for every one.
fn run(ring: &mut Ring, batch: Batch) -> Outcome {
    let Batch {
        processes,
        threads,
        length,
        seed,
        mix,
    } = batch;
    let mut outcome = Outcome {
        totals: [0; KINDS],
        bad_exits: 0,
    };
    let rounds = match length {
        Length::Seconds(_) => 0,
        Length::Rounds(rounds) => rounds,
    };
    let mut children: Vec<i32> = Vec::new();
    for id in 0..processes {
        let argv = format!("stress\0worker\0{id}\0{threads}\0{rounds}\0{seed}\0{mix}\0");
        match rt::process::spawn(ring, "bin/stress", argv.as_bytes()) {
            Ok(handle) => children.push(handle),
            Err(errno) => {
                say(
                    ring,
                    &format!("stress: FAIL spawning worker {id}: {errno:?}"),
                );
                outcome.bad_exits += 1;
            }
        }
    }
    for (index, &handle) in children.iter().enumerate() {
        queue(
            ring,
            Sqe {
                user_data: WAIT_TAG + index as u64,
                ..rt::prep::wait(handle)
            },
        );
    }
    let spec;
    if let Length::Seconds(seconds) = length {
        spec = abi::Timespec::from_ns(seconds * 1_000_000_000);
        queue(
            ring,
            Sqe {
                user_data: TIMER,
                ..rt::prep::timeout(&spec)
            },
        );
    }
    let _ = ring.submit();
    let mut running = children.len();
    let mut timer_pending = matches!(length, Length::Seconds(_));
    while running > 0 || timer_pending {
        let Ok(cqe) = ring.wait() else {
            say(
                ring,
                "stress: FAIL the ring broke while waiting for the workers",
            );
            outcome.bad_exits += running as u64;
            break;
        };
        match cqe.user_data {
            TIMER => {
                timer_pending = false;
                for &handle in &children {
                    queue(
                        ring,
                        Sqe {
                            user_data: STOP_SENT,
                            ..rt::prep::msg_ring(handle, STOP, 0)
                        },
                    );
                }
                let _ = ring.submit();
            }
            data if data & !0xffff == COUNT_TAG && (data & 0xff) < KINDS as u64 => {
                outcome.totals[(data & 0xff) as usize] += u64::from(cqe.res as u32);
            }
            data if data & !0xffff == WAIT_TAG => {
                running -= 1;
                let status = WaitStatus::from_raw(cqe.res as u32);
                if cqe.res < 0 || status != WaitStatus::Exited(0) {
                    say(
                        ring,
                        &format!(
                            "stress: FAIL worker {} ended {status:?} ({})",
                            data & 0xffff,
                            cqe.res
                        ),
                    );
                    outcome.bad_exits += 1;
                }
                if running == 0 && timer_pending {
                    // Every worker ended before the time was up.
                    queue(
                        ring,
                        Sqe {
                            user_data: CANCEL,
                            ..rt::prep::cancel(TIMER)
                        },
                    );
                    let _ = ring.submit();
                }
            }
            _ => {}
        }
    }
    outcome
}

fn queue(ring: &mut Ring, sqe: Sqe) {
    if ring.push(&sqe).is_err() {
        let _ = ring.submit();
        let _ = ring.push(&sqe);
    }
}
