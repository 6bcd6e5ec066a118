//! Wakes across threads, work spread over CPUs, stealing, pinning, and a
//! lost-wakeup stress.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use futures_util::task::AtomicWaker;

use super::util::{eventually, watchdog};
use crate::{Event, Platform, StdRuntime, block_on, yield_now};

/// A flag with one waiter, set from anywhere.
#[derive(Default)]
struct Flag {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Flag {
    fn raise(&self) {
        self.set.store(true, Ordering::SeqCst);
        if let Some(waker) = self.waker.lock().unwrap().take() {
            waker.wake();
        }
    }
}

struct WaitFlag(Arc<Flag>);

impl Future for WaitFlag {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.0.set.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn a_plain_thread_wakes_a_task() {
    watchdog(30, || {
        let rt = StdRuntime::start(2);
        let flag = Arc::new(Flag::default());
        let handle = rt.spawn(WaitFlag(Arc::clone(&flag)));
        thread::sleep(Duration::from_millis(20));
        assert!(!handle.is_finished());
        let waker_thread = {
            let flag = Arc::clone(&flag);
            thread::spawn(move || flag.raise())
        };
        assert_eq!(block_on(handle), Ok(()));
        waker_thread.join().unwrap();
        rt.shutdown();
    });
}

/// Burns a little CPU, so stealing pays off.
fn busy_work(rounds: u32) -> u64 {
    let mut x = 1u64;
    for i in 0..rounds {
        x = std::hint::black_box(
            x.wrapping_mul(6364136223846793005)
                .wrapping_add(u64::from(i)),
        );
    }
    x
}

#[test]
fn many_tasks_spread_over_four_cpus() {
    watchdog(120, || {
        let rt = StdRuntime::start(4);
        let per_cpu: Arc<Vec<AtomicUsize>> =
            Arc::new((0..4).map(|_| AtomicUsize::new(0)).collect());
        const TASKS: usize = 4_000;
        let platform = rt.platform();
        let counts = Arc::clone(&per_cpu);
        // Stop waiting for a second CPU after this long: the assertion
        // below then fails instead of the test hanging.
        let give_up = rt.runtime().now() + 20_000_000_000;
        // All spawned from CPU 0, so only stealing can spread them.  Each
        // task keeps yielding (so CPU 0 always has surplus to offer) until
        // some other CPU has run a task.
        let done = block_on(rt.spawn_on(0, async move {
            let handles: Vec<_> = (0..TASKS)
                .map(|_| {
                    let counts = Arc::clone(&counts);
                    crate::spawn(async move {
                        busy_work(2_000);
                        counts[platform.current_cpu()].fetch_add(1, Ordering::SeqCst);
                        while counts
                            .iter()
                            .filter(|c| c.load(Ordering::SeqCst) > 0)
                            .count()
                            < 2
                            && crate::now() < give_up
                        {
                            yield_now().await;
                        }
                    })
                })
                .collect();
            let mut done = 0;
            for handle in handles {
                handle.await.unwrap();
                done += 1;
            }
            done
        }))
        .unwrap();
        assert_eq!(done, TASKS);
        let counts: Vec<usize> = per_cpu.iter().map(|c| c.load(Ordering::SeqCst)).collect();
        assert_eq!(counts.iter().sum::<usize>(), TASKS);
        let busy_cpus = counts.iter().filter(|&&n| n > 0).count();
        assert!(busy_cpus > 1, "only one CPU did work: {counts:?}");
        let stolen: u64 = rt.runtime().stats().iter().map(|s| s.tasks_stolen).sum();
        assert!(stolen > 0);
        rt.shutdown();
    });
}

#[test]
fn pinned_tasks_stay_on_their_cpu() {
    watchdog(60, || {
        let rt = StdRuntime::start(4);
        let platform = rt.platform();
        // Stealable load, to make idle CPUs go looking for work.
        let load: Vec<_> = (0..2_000)
            .map(|_| {
                rt.spawn_on(0, async {}).detach();
                rt.spawn(async {
                    busy_work(5_000);
                    yield_now().await;
                })
            })
            .collect();
        let pinned: Vec<_> = (0..4)
            .flat_map(|cpu| (0..20).map(move |_| cpu))
            .map(|cpu| {
                rt.spawn_on(cpu, async move {
                    for _ in 0..100 {
                        assert_eq!(platform.current_cpu(), cpu, "pinned task moved");
                        busy_work(500);
                        yield_now().await;
                    }
                })
            })
            .collect();
        for handle in load.into_iter().chain(pinned) {
            assert_eq!(block_on(handle), Ok(()));
        }
        rt.shutdown();
    });
}

#[test]
fn ping_pong_between_two_cpus_never_loses_a_wakeup() {
    const ROUNDS: usize = 100_000;
    watchdog(300, || {
        let rt = StdRuntime::start(2);
        let turn = Arc::new(AtomicUsize::new(0));
        let event = Arc::new(Event::new());
        let player = |cpu: usize, parity: usize| {
            let (turn, event) = (Arc::clone(&turn), Arc::clone(&event));
            rt.spawn_on(cpu, async move {
                loop {
                    event
                        .wait_until(|| {
                            turn.load(Ordering::SeqCst) % 2 == parity
                                || turn.load(Ordering::SeqCst) >= 2 * ROUNDS
                        })
                        .await;
                    let now = turn.load(Ordering::SeqCst);
                    if now >= 2 * ROUNDS {
                        return;
                    }
                    turn.store(now + 1, Ordering::SeqCst);
                    event.wake_all();
                }
            })
        };
        let (a, b) = (player(0, 0), player(1, 1));
        assert_eq!(block_on(a), Ok(()));
        assert_eq!(block_on(b), Ok(()));
        assert_eq!(turn.load(Ordering::SeqCst), 2 * ROUNDS);
        rt.shutdown();
    });
}

#[test]
fn thread_to_task_round_trips_never_lose_a_wakeup() {
    const ROUNDS: usize = 100_000;
    watchdog(300, || {
        let rt = StdRuntime::start(2);
        // The task bumps `count` to odd values, the thread to even ones.
        let count = Arc::new(AtomicUsize::new(0));
        let task_waker = Arc::new(AtomicWaker::new());
        let task = {
            let (count, task_waker) = (Arc::clone(&count), Arc::clone(&task_waker));
            let main = thread::current();
            rt.spawn(async move {
                for round in 0..ROUNDS {
                    poll_fn(|cx| {
                        task_waker.register(cx.waker());
                        if count.load(Ordering::SeqCst) == 2 * round {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    })
                    .await;
                    count.store(2 * round + 1, Ordering::SeqCst);
                    main.unpark();
                }
            })
        };
        for round in 0..ROUNDS {
            while count.load(Ordering::SeqCst) != 2 * round + 1 {
                thread::park_timeout(Duration::from_millis(50));
            }
            count.store(2 * round + 2, Ordering::SeqCst);
            task_waker.wake();
        }
        assert_eq!(block_on(task), Ok(()));
        assert!(eventually(10, || rt.runtime().live_tasks() == 0));
        rt.shutdown();
    });
}
