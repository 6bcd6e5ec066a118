//! The poll budget and per-round fairness, on a hand-driven CPU.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use super::util::manual_runtime;
use crate::{Config, JoinError, block_on, yield_now};

/// Wakes itself on every poll and never completes; counts its polls.
struct SelfWaker(Arc<AtomicUsize>);

impl Future for SelfWaker {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn a_round_polls_at_most_the_budget() {
    let (rt, _) = manual_runtime(Config {
        poll_budget: 8,
        ..Config::default()
    });
    let polls = Arc::new(AtomicUsize::new(0));
    for _ in 0..20 {
        let polls = Arc::clone(&polls);
        rt.spawn(async move {
            polls.fetch_add(1, Ordering::SeqCst);
        })
        .detach();
    }
    let executor = rt.executor(0);
    let rounds: Vec<_> = (0..4).map(|_| executor.run_once()).collect();
    let polled: Vec<_> = rounds.iter().map(|r| r.polled).collect();
    assert_eq!(polled, [8, 8, 4, 0]);
    assert!(rounds[0].more_ready && rounds[1].more_ready);
    assert!(!rounds[2].more_ready && !rounds[3].more_ready);
    assert_eq!(polls.load(Ordering::SeqCst), 20);
}

#[test]
fn self_waking_task_cannot_starve_another() {
    let (rt, _) = manual_runtime(Config::default());
    let spins = Arc::new(AtomicUsize::new(0));
    let hog = rt.spawn(SelfWaker(Arc::clone(&spins)));
    // Needs four polls: three yields, then done.
    let other = rt.spawn(async {
        for _ in 0..3 {
            yield_now().await;
        }
        7
    });
    let executor = rt.executor(0);
    let mut rounds = 0;
    while !other.is_finished() {
        let outcome = executor.run_once();
        rounds += 1;
        // The hog is polled once per round, however often it wakes itself.
        assert_eq!(spins.load(Ordering::SeqCst), rounds);
        assert_eq!(outcome.polled, 2);
        assert!(rounds <= 4, "the other task was starved");
    }
    assert_eq!(rounds, 4);
    assert_eq!(block_on(other), Ok(7));

    hog.abort();
    executor.run_until_idle();
    assert_eq!(block_on(hog), Err(JoinError::Cancelled));
}

#[test]
fn tasks_run_in_fifo_order_and_a_yield_goes_to_the_back() {
    let (rt, _) = manual_runtime(Config::default());
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    for id in 0..3 {
        let order = Arc::clone(&order);
        rt.spawn(async move {
            order.lock().unwrap().push(id);
            yield_now().await;
            order.lock().unwrap().push(id + 10);
        })
        .detach();
    }
    rt.executor(0).run_until_idle();
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 10, 11, 12]);
}
