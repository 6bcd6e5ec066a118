//! Event, Completion and CountdownCompletion semantics.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
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
fn the_lock_free_listener_count_follows_links_wakes_and_drops() {
    let event = Event::new();
    assert!(!event.has_waiters());
    {
        let mut a = pin!(event.listen());
        a.as_mut().register();
        let mut b = pin!(event.listen());
        assert!(!poll_once(b.as_mut()));
        assert!(event.has_waiters());
        event.wake_one();
        assert!(event.has_waiters(), "one is still linked");
        assert!(poll_once(a.as_mut()));
        // `b` is dropped linked: its drop unlinks it.
    }
    assert!(!event.has_waiters());
    let mut c = pin!(event.listen());
    c.as_mut().register();
    event.wake_all();
    assert!(!event.has_waiters());
    assert!(
        poll_once(c.as_mut()),
        "a registered listener is still woken"
    );
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

/// Counts its wakes.
struct Canary(AtomicUsize);

impl std::task::Wake for Canary {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Drives `signal` (a `complete` or a `signal`) on another thread, the way
/// an interrupt handler reaches a primitive that the waiting op future owns,
/// and reuses the memory the moment `wait` (polled here, spinning) resolves:
/// a fresh primitive is written over it, with a canary waker registered.  A
/// signaller that still touched the primitive after the waiter could see it
/// done would take and wake the canary (before the fix: inside
/// `AtomicWaker::take`, after the value or the zero was published; ASan
/// reports the same as a heap-use-after-free when the memory is freed
/// instead).
fn reuse_as_soon_as_done<P: Send + 'static>(
    fresh: fn() -> P,
    signal: fn(&P),
    wait: fn(&P, &mut Context<'_>) -> bool,
) {
    const ROUNDS: usize = 20_000;
    watchdog(120, move || {
        let slot: &'static mut P = Box::leak(Box::new(fresh()));
        let slot = std::ptr::from_mut(slot);
        // Handed to the signaller each round (as an address: raw pointers
        // are not `Send`); `returned` says its call has returned.
        let handoff = Arc::new(AtomicUsize::new(0));
        let returned = Arc::new(AtomicUsize::new(0));
        let signaller = {
            let (handoff, returned) = (Arc::clone(&handoff), Arc::clone(&returned));
            thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let address = loop {
                        match handoff.swap(0, Ordering::Acquire) {
                            0 => std::hint::spin_loop(),
                            address => break address,
                        }
                    };
                    // SAFETY: the main thread keeps the slot allocated for
                    // the whole test and holds a live `P` in it until this
                    // call's signal is done with it.
                    signal(unsafe { &*(address as *const P) });
                    returned.fetch_add(1, Ordering::Release);
                }
            })
        };
        let canary = Arc::new(Canary(AtomicUsize::new(0)));
        let canary_waker = Waker::from(Arc::clone(&canary));
        let mut cx = Context::from_waker(Waker::noop());
        for round in 0..ROUNDS {
            // SAFETY: the signaller has returned from the previous round's
            // call (checked at the end of the loop), so nothing else
            // touches the slot.
            let primitive = unsafe {
                slot.write(fresh());
                &*slot
            };
            assert!(!wait(primitive, &mut cx));
            handoff.store(slot.addr(), Ordering::Release);
            while !wait(primitive, &mut cx) {
                std::hint::spin_loop();
            }
            // Done: the waiter may reuse (or free) the memory now.  The old
            // primitive is overwritten without running its destructor (it
            // holds at most a no-op waker).
            // SAFETY: the wait resolved, so the signaller no longer touches
            // the primitive (the property under test).
            let reused = unsafe {
                slot.write(fresh());
                &*slot
            };
            assert!(!wait(reused, &mut Context::from_waker(&canary_waker)));
            while returned.load(Ordering::Acquire) != round + 1 {
                // A signaller that corrupted the reused primitive may have
                // tripped an assertion: fail now rather than at the watchdog.
                assert!(
                    !signaller.is_finished(),
                    "round {round}: the signaller died"
                );
                std::hint::spin_loop();
            }
            assert_eq!(
                canary.0.load(Ordering::SeqCst),
                0,
                "round {round}: the signaller touched the primitive after its waiter saw it done"
            );
        }
        signaller.join().unwrap();
        // SAFETY: the signaller is gone; the slot came from `Box::leak`.
        drop(unsafe { Box::from_raw(slot) });
    });
}

#[test]
fn a_completion_is_not_touched_after_its_waiter_has_the_value() {
    reuse_as_soon_as_done(
        Completion::<u64>::new,
        |completion| completion.complete(7).unwrap(),
        |completion, cx| match pin!(completion.wait()).poll(cx) {
            Poll::Ready(value) => {
                assert_eq!(value, 7);
                true
            }
            Poll::Pending => false,
        },
    );
}

#[test]
fn a_countdown_is_not_touched_after_its_waiter_sees_zero() {
    reuse_as_soon_as_done(
        || CountdownCompletion::new(1),
        |countdown| assert!(countdown.signal()),
        |countdown, cx| pin!(countdown.wait()).poll(cx).is_ready(),
    );
}
