//! Memory ordering of wakes: what a waker wrote before `wake` is visible to
//! the poll that the wake guarantees, even when the wake finds the task
//! already scheduled and has nothing to change.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use super::util::watchdog;
use crate::{StdRuntime, yield_now};

/// Cache lines the CPU thread keeps dirty, so the waker's stores to them
/// miss and sit in its store buffer for a while (x86-TSO commits stores in
/// order, so the store of `value` after them waits too).
const DIRTY_LINES: usize = 8;

#[repr(align(128))]
#[derive(Default)]
struct Line(AtomicU64);

#[derive(Default)]
struct Shared {
    /// Published by the waker before each wake; Release, not SeqCst: a
    /// device handler storing a status word is this pattern.
    value: AtomicU64,
    /// The last `value` the task saw.
    seen: AtomicU64,
    dirty: [Line; DIRTY_LINES],
    stop: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// Stress: a thread publishes a value, then wakes a task that is usually
/// already SCHEDULED (the thread woke it a moment earlier).  A wake that
/// changes nothing must still order the value before the next poll: with a
/// plain load in that case, the waker's store can be reordered after it
/// (store buffering), the poll reads the old value, the task goes idle, and
/// the value is never seen.
#[test]
fn a_wake_that_finds_the_task_scheduled_still_publishes_what_came_before() {
    const ROUNDS: u64 = 100_000;
    watchdog(240, || {
        let rt = StdRuntime::start(1);
        let shared = Arc::new(Shared::default());
        let task = {
            let shared = Arc::clone(&shared);
            rt.spawn(poll_fn(move |cx| {
                if shared.waker.lock().unwrap().is_none() {
                    *shared.waker.lock().unwrap() = Some(cx.waker().clone());
                }
                let value = shared.value.load(Ordering::Acquire);
                shared.seen.store(value, Ordering::Release);
                if shared.stop.load(Ordering::Acquire) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }))
        };
        // Keeps the CPU in tight rounds (no halting) and its lines dirty.
        let spinner = {
            let shared = Arc::clone(&shared);
            rt.spawn(async move {
                let mut n = 0u64;
                while !shared.stop.load(Ordering::Relaxed) {
                    n = n.wrapping_add(1);
                    for line in &shared.dirty {
                        line.0.store(n, Ordering::Relaxed);
                    }
                    yield_now().await;
                }
            })
        };
        let waker = loop {
            if let Some(waker) = shared.waker.lock().unwrap().clone() {
                break waker;
            }
            thread::yield_now();
        };
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut lost = None;
        for round in 1..=ROUNDS {
            // Schedule the task, wait a little (so that sometimes the CPU is
            // just about to poll it), then publish and wake again.
            waker.wake_by_ref();
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            for _ in 0..(rng % 64) {
                std::hint::spin_loop();
            }
            for line in &shared.dirty {
                line.0.store(round, Ordering::Relaxed);
            }
            shared.value.store(round, Ordering::Release);
            waker.wake_by_ref();
            let start = Instant::now();
            while shared.seen.load(Ordering::Acquire) != round {
                if start.elapsed() > Duration::from_secs(2) {
                    lost = Some(round);
                    break;
                }
                std::hint::spin_loop();
            }
            if lost.is_some() {
                break;
            }
        }
        shared.stop.store(true, Ordering::SeqCst);
        waker.wake_by_ref();
        drop(waker);
        if lost.is_none() {
            assert_eq!(crate::block_on(task), Ok(()));
            assert_eq!(crate::block_on(spinner), Ok(()));
        }
        rt.shutdown();
        assert_eq!(lost, None, "a wake was lost: the task never saw this value");
    });
}
