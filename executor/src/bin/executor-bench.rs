//! Executor micro-benchmarks on the host: prints ns/op, asserts nothing
//! about timing.
//!
//!     cargo run --release -p executor --features std --bin executor-bench
//!
//! - spawn+run+free: detached empty tasks on one CPU driven inline by
//!   `run_until_idle` (no threads, no halting): the task lifecycle alone.
//! - spawn+join: a task on a one-CPU `StdRuntime` spawning and awaiting
//!   tasks one at a time: adds the join wake and a round per task.
//! - yield: one task yielding on an inline-driven CPU: poll + self-wake.
//! - cross-CPU round trip: two tasks pinned to CPUs 0 and 1 of a
//!   `StdRuntime` handing a turn back and forth; one round trip is two
//!   cross-CPU wakes.  Once through `AtomicWaker`, once through `Event`.
#![forbid(unsafe_code)]

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Instant;

use executor::{Config, Event, Platform, Runtime, StdRuntime, block_on, yield_now};
use futures_util::task::AtomicWaker;

/// One CPU driven by the bench thread itself.
struct InlinePlatform {
    epoch: Instant,
}

impl Platform for InlinePlatform {
    fn cpu_count(&self) -> usize {
        1
    }
    fn current_cpu(&self) -> usize {
        0
    }
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
    fn pend(&self, _cpu: usize) {}
    fn halt(&self, _deadline: Option<u64>) {}
}

fn inline_runtime() -> &'static Runtime {
    let platform = Box::leak(Box::new(InlinePlatform {
        epoch: Instant::now(),
    }));
    Runtime::new(platform, Config::default())
}

fn report(name: &str, ops: u64, start: Instant) {
    let ns = start.elapsed().as_nanos() as f64 / ops as f64;
    println!("{name:<44} {ns:>10.1} ns/op   ({ops} ops)");
}

fn spawn_run_free(ops: u64) {
    let rt = inline_runtime();
    let executor = rt.executor(0);
    let start = Instant::now();
    for _ in 0..ops / 1_000 {
        for _ in 0..1_000 {
            rt.spawn(async {}).detach();
        }
        executor.run_until_idle();
    }
    report("spawn+run+free, 1 CPU inline (batches of 1k)", ops, start);
    assert_eq!(rt.live_tasks(), 0);
}

fn spawn_join(ops: u64) {
    let rt = StdRuntime::start(1);
    let start = Instant::now();
    rt.block_on(async move {
        for i in 0..ops {
            assert_eq!(executor::spawn(async move { i }).await, Ok(i));
        }
    });
    report("spawn+await join, 1 CPU thread", ops, start);
    rt.shutdown();
}

fn yields(ops: u64) {
    let rt = inline_runtime();
    let start = Instant::now();
    rt.spawn(async move {
        for _ in 0..ops {
            yield_now().await;
        }
    })
    .detach();
    rt.executor(0).run_until_idle();
    report("yield_now (poll + self-wake), 1 CPU inline", ops, start);
}

fn round_trip_atomic_waker(rounds: u64) {
    let rt = StdRuntime::start(2);
    let turn = Arc::new(AtomicU64::new(0));
    let wakers = Arc::new([AtomicWaker::new(), AtomicWaker::new()]);
    let player = |me: usize| {
        let (turn, wakers) = (Arc::clone(&turn), Arc::clone(&wakers));
        rt.spawn_on(me, async move {
            for round in 0..rounds {
                let mine = 2 * round + me as u64;
                poll_fn(|cx| {
                    wakers[me].register(cx.waker());
                    if turn.load(Ordering::Acquire) == mine {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await;
                turn.store(mine + 1, Ordering::Release);
                wakers[1 - me].wake();
            }
        })
    };
    let start = Instant::now();
    let (a, b) = (player(0), player(1));
    block_on(a).unwrap();
    block_on(b).unwrap();
    report("cross-CPU wake round trip (AtomicWaker)", rounds, start);
    rt.shutdown();
}

fn round_trip_event(rounds: u64) {
    let rt = StdRuntime::start(2);
    let turn = Arc::new(AtomicU64::new(0));
    let event = Arc::new(Event::new());
    let player = |me: u64| {
        let (turn, event) = (Arc::clone(&turn), Arc::clone(&event));
        rt.spawn_on(me as usize, async move {
            for round in 0..rounds {
                let mine = 2 * round + me;
                event
                    .wait_until(|| turn.load(Ordering::Acquire) == mine)
                    .await;
                turn.store(mine + 1, Ordering::Release);
                event.wake_all();
            }
        })
    };
    let start = Instant::now();
    let (a, b) = (player(0), player(1));
    block_on(a).unwrap();
    block_on(b).unwrap();
    report("cross-CPU wake round trip (Event)", rounds, start);
    rt.shutdown();
}

fn main() {
    println!(
        "executor-bench: host threads as CPUs, {} host cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    spawn_run_free(2_000_000);
    spawn_join(500_000);
    yields(2_000_000);
    round_trip_atomic_waker(200_000);
    round_trip_event(200_000);
}
