//! Timers: deadline order, never early, timeouts, cancellation, and no
//! starvation by busy tasks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::util::{forever, manual_runtime, watchdog};
use crate::{Config, Elapsed, StdRuntime, block_on, now, sleep, sleep_until, timeout, yield_now};

#[test]
fn timers_fire_in_deadline_order_and_never_early_on_a_manual_clock() {
    let (rt, platform) = manual_runtime(Config::default());
    let woken = Arc::new(Mutex::new(Vec::new()));
    // (deadline, id): two share a deadline, to check registration order.
    let timers = [(50, 0), (10, 1), (40, 2), (20, 3), (30, 4), (20, 5)];
    for (deadline, id) in timers {
        let woken = Arc::clone(&woken);
        rt.spawn(async move {
            sleep_until(deadline).await;
            woken.lock().unwrap().push((id, deadline, now()));
        })
        .detach();
    }
    let executor = rt.executor(0);
    executor.run_until_idle();
    assert!(woken.lock().unwrap().is_empty());
    assert_eq!(executor.run_once().next_deadline, Some(10));

    platform.set_now(19);
    executor.run_until_idle();
    platform.set_now(25);
    executor.run_until_idle();
    assert_eq!(executor.run_once().next_deadline, Some(30));
    platform.set_now(1_000);
    executor.run_until_idle();

    let woken = woken.lock().unwrap();
    let ids: Vec<_> = woken.iter().map(|&(id, _, _)| id).collect();
    assert_eq!(ids, [1, 3, 5, 4, 2, 0]);
    for &(id, deadline, at) in woken.iter() {
        assert!(at >= deadline, "timer {id} woke at {at}, before {deadline}");
    }
    assert_eq!(executor.run_once().next_deadline, None);
    assert_eq!(rt.live_tasks(), 0);
}

#[test]
fn sleepers_on_real_cpus_wake_in_order_and_never_early() {
    watchdog(60, || {
        // One CPU, so the order of wakes is the order of polls.
        let rt = StdRuntime::start(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let base = rt.runtime().now() + 5_000_000;
        // Spawned in a scrambled order, 1 ms apart.
        let handles: Vec<_> = (0..20u64)
            .map(|i| (i * 7) % 20)
            .map(|slot| {
                let order = Arc::clone(&order);
                let deadline = base + slot * 1_000_000;
                rt.spawn(async move {
                    sleep_until(deadline).await;
                    let at = now();
                    order.lock().unwrap().push(slot);
                    at >= deadline
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(block_on(handle), Ok(true), "woke before its deadline");
        }
        let order = order.lock().unwrap();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "out of order: {order:?}"
        );
        rt.shutdown();
    });
}

#[test]
fn sleeps_on_four_cpus_are_never_early() {
    watchdog(60, || {
        let rt = StdRuntime::start(4);
        let handles: Vec<_> = (0..200u64)
            .map(|i| {
                rt.spawn(async move {
                    let duration = (i * 37 % 50) * 100_000;
                    let start = now();
                    sleep(duration).await;
                    now() - start >= duration
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(block_on(handle), Ok(true));
        }
        rt.shutdown();
    });
}

#[test]
fn timeout_elapses_or_passes_the_output_through() {
    watchdog(30, || {
        let rt = StdRuntime::start(2);
        let (late, early) = rt.block_on(async {
            let start = now();
            let late = timeout(forever(), start + 3_000_000).await;
            assert!(now() >= start + 3_000_000);
            let early = timeout(async { 9 }, now() + 1_000_000_000).await;
            (late, early)
        });
        assert_eq!(late, Err(Elapsed));
        assert_eq!(early, Ok(9));
        rt.shutdown();
    });
}

#[test]
fn a_dropped_sleep_cancels_its_timer() {
    let (rt, _) = manual_runtime(Config::default());
    let handle = rt.spawn(async {
        let result = timeout(yield_now(), 500).await;
        assert!(result.is_ok());
    });
    let executor = rt.executor(0);
    executor.run_until_idle();
    assert!(handle.is_finished());
    assert_eq!(executor.run_once().next_deadline, None);
}

#[test]
fn a_spinning_task_does_not_starve_timers() {
    watchdog(30, || {
        let rt = StdRuntime::start(1);
        let stop = Arc::new(AtomicBool::new(false));
        let spinner = {
            let stop = Arc::clone(&stop);
            rt.spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    yield_now().await;
                }
            })
        };
        let sleeper = rt.spawn(async move {
            sleep(2_000_000).await;
            stop.store(true, Ordering::SeqCst);
        });
        assert_eq!(block_on(sleeper), Ok(()));
        assert_eq!(block_on(spinner), Ok(()));
        rt.shutdown();
    });
}
