//! Task memory: every allocation is freed, including tasks nobody can wake
//! any more.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Waker;

use super::util::{DropCounter, eventually, manual_runtime, watchdog};
use crate::{Config, StdRuntime, block_on, yield_now};

#[test]
fn a_hundred_thousand_short_tasks_leave_nothing_behind() {
    const TASKS: usize = 100_000;
    watchdog(180, || {
        let rt = StdRuntime::start(4);
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let mut joined = Vec::new();
        for i in 0..TASKS {
            let guard = DropCounter(Arc::clone(&drops));
            let ran = Arc::clone(&ran);
            let handle = rt.spawn(async move {
                let _guard = guard;
                if i % 3 == 0 {
                    yield_now().await;
                }
                ran.fetch_add(1, Ordering::SeqCst);
                i
            });
            // Half joined, half detached.
            if i % 2 == 0 {
                joined.push(handle);
            } else {
                handle.detach();
            }
        }
        for (n, handle) in joined.into_iter().enumerate() {
            assert_eq!(block_on(handle), Ok(2 * n));
        }
        assert!(eventually(30, || ran.load(Ordering::SeqCst) == TASKS));
        assert!(
            eventually(30, || rt.runtime().live_tasks() == 0),
            "tasks leaked: {}",
            rt.runtime().live_tasks()
        );
        assert_eq!(drops.load(Ordering::SeqCst), TASKS);
        let stats = rt.runtime().stats();
        assert_eq!(stats.iter().map(|s| s.spawned).sum::<u64>(), TASKS as u64);
        assert_eq!(stats.iter().map(|s| s.freed).sum::<u64>(), TASKS as u64);
        rt.shutdown();
    });
}

#[test]
fn a_detached_task_whose_last_waker_is_dropped_is_freed() {
    let (rt, _) = manual_runtime(Config::default());
    let drops = Arc::new(AtomicUsize::new(0));
    let slot: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
    let (guard, task_slot) = (DropCounter(Arc::clone(&drops)), Arc::clone(&slot));
    rt.spawn(async move {
        let _guard = guard;
        std::future::poll_fn(|cx| {
            *task_slot.lock().unwrap() = Some(cx.waker().clone());
            std::task::Poll::<()>::Pending
        })
        .await;
    })
    .detach();
    rt.executor(0).run_until_idle();
    assert_eq!(rt.live_tasks(), 1);
    // The only reference left is the waker.  Dropping it (as an interrupt
    // handler might) must not free here, but hand the task to its CPU.
    let waker = slot.lock().unwrap().take().unwrap();
    drop(waker);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "freed off its CPU");
    assert_eq!(rt.live_tasks(), 1);
    rt.executor(0).run_until_idle();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(rt.live_tasks(), 0);
}

#[test]
fn join_handle_dropped_last_frees_a_completed_task() {
    let (rt, _) = manual_runtime(Config::default());
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(Arc::clone(&drops));
    let handle = rt.spawn(async move { guard });
    rt.executor(0).run_until_idle();
    // Completed; the output (the guard) waits in the task for the handle.
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert_eq!(rt.live_tasks(), 1);
    drop(handle);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(rt.live_tasks(), 0);
}
