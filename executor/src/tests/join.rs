//! Join handles: values, abort, detach, and never polling a finished task.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use super::util::{DropCounter, eventually, forever, manual_runtime, watchdog};
use crate::{Config, JoinError, StdRuntime, block_on, yield_now};

#[test]
fn join_returns_the_value() {
    watchdog(30, || {
        let rt = StdRuntime::start(2);
        let handle = rt.spawn(async { 6 * 7 });
        assert_eq!(block_on(handle), Ok(42));
        // A task awaiting another task's handle.
        let outer = rt.spawn(async {
            let inner = crate::spawn(async {
                yield_now().await;
                String::from("inner")
            });
            inner.await.unwrap() + " and outer"
        });
        assert_eq!(block_on(outer).unwrap(), "inner and outer");
        rt.shutdown();
    });
}

#[test]
fn abort_cancels_a_waiting_task() {
    watchdog(30, || {
        let rt = StdRuntime::start(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicBool::new(false));
        let (guard, flag) = (DropCounter(Arc::clone(&drops)), Arc::clone(&started));
        let handle = rt.spawn(async move {
            let _guard = guard;
            flag.store(true, Ordering::SeqCst);
            forever().await;
        });
        assert!(eventually(10, || started.load(Ordering::SeqCst)));
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        handle.abort();
        assert_eq!(block_on(handle), Err(JoinError::Cancelled));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        thread::sleep(Duration::from_millis(20));
        assert_eq!(drops.load(Ordering::SeqCst), 1, "future dropped twice");
        assert!(eventually(10, || rt.runtime().live_tasks() == 0));
        rt.shutdown();
    });
}

#[test]
fn abort_before_the_first_poll_never_polls() {
    let (rt, _) = manual_runtime(Config::default());
    let drops = Arc::new(AtomicUsize::new(0));
    let polled = Arc::new(AtomicBool::new(false));
    let (guard, flag) = (DropCounter(Arc::clone(&drops)), Arc::clone(&polled));
    let handle = rt.spawn(async move {
        let _guard = guard;
        flag.store(true, Ordering::SeqCst);
    });
    handle.abort();
    handle.abort();
    rt.executor(0).run_until_idle();
    assert!(!polled.load(Ordering::SeqCst));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(block_on(handle), Err(JoinError::Cancelled));
    assert_eq!(rt.live_tasks(), 0);
}

#[test]
fn abort_of_a_busy_task_from_another_thread() {
    watchdog(30, || {
        let rt = StdRuntime::start(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCounter(Arc::clone(&drops));
        let handle = rt.spawn(async move {
            let _guard = guard;
            loop {
                yield_now().await;
            }
        });
        thread::sleep(Duration::from_millis(5));
        handle.abort();
        assert_eq!(block_on(handle), Err(JoinError::Cancelled));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        rt.shutdown();
    });
}

#[test]
fn abort_after_completion_keeps_the_output() {
    let (rt, _) = manual_runtime(Config::default());
    let handle = rt.spawn(async { 5 });
    rt.executor(0).run_until_idle();
    handle.abort();
    rt.executor(0).run_until_idle();
    assert_eq!(block_on(handle), Ok(5));
}

#[test]
fn detached_and_dropped_handles_still_run_to_completion() {
    watchdog(30, || {
        let rt = StdRuntime::start(2);
        let done = Arc::new(AtomicUsize::new(0));
        let (a, b) = (Arc::clone(&done), Arc::clone(&done));
        rt.spawn(async move {
            yield_now().await;
            a.fetch_add(1, Ordering::SeqCst);
        })
        .detach();
        drop(rt.spawn(async move {
            crate::sleep(1_000_000).await;
            b.fetch_add(1, Ordering::SeqCst);
        }));
        assert!(eventually(10, || done.load(Ordering::SeqCst) == 2));
        assert!(eventually(10, || rt.runtime().live_tasks() == 0));
        rt.shutdown();
    });
}

/// Ready on its second poll; panics if polled after that.  Its first poll
/// hands out its waker so another thread can keep waking it.
struct PanicAfterReady {
    polls: u32,
    wakers: Arc<Mutex<Vec<Waker>>>,
}

impl Future for PanicAfterReady {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls += 1;
        match self.polls {
            1 => {
                self.wakers.lock().unwrap().push(cx.waker().clone());
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            2 => Poll::Ready(()),
            _ => panic!("task polled after it completed"),
        }
    }
}

#[test]
fn a_completed_task_is_never_polled_again() {
    watchdog(60, || {
        let rt = StdRuntime::start(4);
        let wakers = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..2_000)
            .map(|_| {
                rt.spawn(PanicAfterReady {
                    polls: 0,
                    wakers: Arc::clone(&wakers),
                })
            })
            .collect();
        // Keep waking every task, during and after its completion.
        let spammer = {
            let wakers = Arc::clone(&wakers);
            thread::spawn(move || {
                for _ in 0..50 {
                    for waker in wakers.lock().unwrap().iter() {
                        waker.wake_by_ref();
                    }
                }
            })
        };
        for handle in handles {
            assert_eq!(block_on(handle), Ok(()));
        }
        spammer.join().unwrap();
        for waker in wakers.lock().unwrap().drain(..) {
            waker.wake();
        }
        assert!(eventually(10, || rt.runtime().live_tasks() == 0));
        // Re-raises the panic of any CPU that polled a finished task.
        rt.shutdown();
    });
}
