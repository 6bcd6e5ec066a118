//! Event, Completion and CountdownCompletion semantics.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Waker};
use std::thread;
use std::time::Duration;

use super::util::{DropCounter, watchdog};
use crate::{Completion, CountdownCompletion, Event, Listener, StdRuntime, block_on};

fn poll_once(listener: Pin<&mut Listener<'_>>) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    listener.poll(&mut cx).is_ready()
}

#[test]
fn wake_one_wakes_exactly_the_oldest_listener_and_wake_all_the_rest() {
    let event = Event::new();
    let (mut a, mut b, mut c) = (
        pin!(event.listen()),
        pin!(event.listen()),
        pin!(event.listen()),
    );
    for listener in [a.as_mut(), b.as_mut(), c.as_mut()] {
        assert!(!poll_once(listener));
    }
    event.wake_one();
    assert!(poll_once(a.as_mut()), "the oldest listener is woken first");
    assert!(!poll_once(b.as_mut()));
    assert!(!poll_once(c.as_mut()));
    event.wake_all();
    assert!(poll_once(b.as_mut()));
    assert!(poll_once(c.as_mut()));
    assert!(!event.has_waiters());
}

#[test]
fn wake_one_without_listeners_leaves_a_single_permit() {
    let event = Event::new();
    event.wake_one();
    event.wake_one();
    let mut first = pin!(event.listen());
    assert!(
        poll_once(first.as_mut()),
        "the permit completes the next listener"
    );
    let mut second = pin!(event.listen());
    assert!(!poll_once(second.as_mut()), "permits do not add up");
}

#[test]
fn wake_all_without_listeners_is_not_remembered() {
    let event = Event::new();
    event.wake_all();
    let mut listener = pin!(event.listen());
    assert!(!poll_once(listener.as_mut()));
}

#[test]
fn registered_listener_sees_a_wake_sent_before_its_first_poll() {
    let event = Event::new();
    let mut listener = pin!(event.listen());
    listener.as_mut().register();
    event.wake_all();
    assert!(listener.is_notified());
    assert!(poll_once(listener.as_mut()));
}

#[test]
fn a_chosen_listener_dropped_unpolled_passes_the_wake_on() {
    let event = Event::new();
    let mut second = pin!(event.listen());
    {
        let mut first = pin!(event.listen());
        first.as_mut().register();
        second.as_mut().register();
        event.wake_one();
        assert!(first.is_notified() && !second.is_notified());
    }
    assert!(poll_once(second.as_mut()));
}

#[test]
fn a_signal_that_finds_the_lock_held_is_served_by_the_holder() {
    // What an interrupt handler sees when it interrupts a registration.
    let event = Event::new();
    let mut listener = pin!(event.listen());
    listener.as_mut().register();
    let held = event.waiters.lock();
    event.wake_one();
    assert!(!listener.is_notified(), "served without the lock?");
    event.unlock(held);
    assert!(listener.is_notified());
}

#[test]
fn wait_until_across_threads_sees_every_update() {
    watchdog(60, || {
        let rt = StdRuntime::start(4);
        let counter = Arc::new(AtomicUsize::new(0));
        let event = Arc::new(Event::new());
        let waiters: Vec<_> = (0..16)
            .map(|_| {
                let (counter, event) = (Arc::clone(&counter), Arc::clone(&event));
                rt.spawn(async move {
                    event
                        .wait_until(|| counter.load(Ordering::SeqCst) == 10_000)
                        .await;
                })
            })
            .collect();
        for _ in 0..10_000 {
            counter.fetch_add(1, Ordering::SeqCst);
            event.wake_all();
        }
        for waiter in waiters {
            assert_eq!(block_on(waiter), Ok(()));
        }
        rt.shutdown();
    });
}

#[test]
fn completion_delivers_a_value_from_another_thread_once() {
    watchdog(30, || {
        let rt = StdRuntime::start(2);
        let completion = Arc::new(Completion::new());
        let waiter = {
            let completion = Arc::clone(&completion);
            rt.spawn(async move { completion.wait().await })
        };
        thread::sleep(Duration::from_millis(10));
        assert!(!waiter.is_finished());
        let completer = {
            let completion = Arc::clone(&completion);
            thread::spawn(move || completion.complete(String::from("done")))
        };
        assert_eq!(completer.join().unwrap(), Ok(()));
        assert_eq!(
            completion.complete(String::from("again")),
            Err(String::from("again"))
        );
        assert_eq!(block_on(waiter).unwrap(), "done");
        assert!(completion.is_complete());
        assert!(completion.try_take().is_none());
        rt.shutdown();
    });
}

#[test]
fn an_untaken_completion_value_is_dropped_with_the_completion() {
    let drops = Arc::new(AtomicUsize::new(0));
    let completion = Completion::new();
    assert!(completion.complete(DropCounter(Arc::clone(&drops))).is_ok());
    drop(completion);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn countdown_resolves_only_after_signals_from_several_threads() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 1_000;
    watchdog(60, || {
        let rt = StdRuntime::start(2);
        let countdown = Arc::new(CountdownCompletion::new(THREADS * PER_THREAD));
        let signalled = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let (countdown, signalled) = (Arc::clone(&countdown), Arc::clone(&signalled));
            rt.spawn(async move {
                countdown.wait().await;
                // Every signal happened before the wait resolved.
                signalled.load(Ordering::SeqCst)
            })
        };
        let last_signals = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (countdown, signalled, last) = (
                    Arc::clone(&countdown),
                    Arc::clone(&signalled),
                    Arc::clone(&last_signals),
                );
                thread::spawn(move || {
                    for _ in 0..PER_THREAD {
                        signalled.fetch_add(1, Ordering::SeqCst);
                        if countdown.signal() {
                            last.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(block_on(waiter), Ok(THREADS * PER_THREAD));
        assert_eq!(last_signals.load(Ordering::SeqCst), 1);
        assert!(countdown.is_done());
        rt.shutdown();
    });
}

#[test]
fn countdown_of_zero_is_done_at_once() {
    let countdown = CountdownCompletion::new(0);
    let mut wait = pin!(countdown.wait());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(wait.as_mut().poll(&mut cx).is_ready());
}
