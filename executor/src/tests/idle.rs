//! The halt protocol, step by step on a hand-driven CPU: a wake that lands
//! between the last round and the halt must cancel the halt, and one that
//! lands while halted must pend the CPU (once).

use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use super::util::manual_runtime;
use crate::{Config, sleep_until};

#[test]
fn a_wake_before_the_halt_cancels_it_and_one_during_the_halt_pends_once() {
    let (rt, platform) = manual_runtime(Config::default());
    let slot: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
    let task_slot = Arc::clone(&slot);
    let task = rt.spawn(async move {
        // Waits three times, handing out its waker each time.
        for _ in 0..3 {
            let mut waited = false;
            poll_fn(|cx| {
                if waited {
                    return Poll::Ready(());
                }
                waited = true;
                *task_slot.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            })
            .await;
        }
    });
    let executor = rt.executor(0);
    let take_waker = || slot.lock().unwrap().take().expect("task is waiting");
    executor.run_until_idle();

    // The wake lands after the last round, before the halt.
    take_waker().wake();
    assert!(
        executor.enter_idle().is_none(),
        "would halt with a task in the inbox"
    );
    assert_eq!(executor.run_until_idle(), 1);

    // The wake lands while the CPU is halted: exactly one pend, however
    // many wakes follow.
    let idle = executor.enter_idle().expect("nothing to do: should halt");
    let pends = platform.pends.load(Ordering::SeqCst);
    let waker = take_waker();
    waker.wake_by_ref();
    waker.wake_by_ref();
    assert_eq!(platform.pends.load(Ordering::SeqCst), pends + 1);
    drop(idle);
    assert_eq!(executor.run_until_idle(), 1);

    // Pends are per halt: the next halt gets its own.
    let idle = executor.enter_idle().expect("nothing to do: should halt");
    take_waker().wake();
    assert_eq!(platform.pends.load(Ordering::SeqCst), pends + 2);
    drop(idle);
    executor.run_until_idle();
    assert!(task.is_finished());
}

#[test]
fn an_expired_timer_cancels_the_halt_and_a_pending_one_is_its_deadline() {
    let (rt, platform) = manual_runtime(Config::default());
    rt.spawn(async { sleep_until(100).await }).detach();
    let executor = rt.executor(0);
    executor.run_until_idle();
    let idle = executor.enter_idle().expect("only a timer pending");
    assert_eq!(idle.deadline(), Some(100));
    drop(idle);
    platform.set_now(100);
    assert!(
        executor.enter_idle().is_none(),
        "would halt past a deadline"
    );
    executor.run_until_idle();
    assert_eq!(rt.live_tasks(), 0);
    assert!(
        executor
            .enter_idle()
            .expect("all done")
            .deadline()
            .is_none()
    );
}
