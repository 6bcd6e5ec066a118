//! Test helpers: a watchdog, a hand-driven single-CPU platform with a
//! settable clock, and a drop counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::{Config, Platform, Runtime};

/// Runs `f` on its own thread and fails the test if it has not finished
/// after `secs` seconds (a hang is a failure, not a timing assertion).
pub(crate) fn watchdog<R: Send + 'static>(secs: u64, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(value) => {
            worker.join().expect("test thread");
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The closure panicked: re-raise its panic.
            match worker.join() {
                Err(payload) => std::panic::resume_unwind(payload),
                Ok(()) => unreachable!(),
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("watchdog: no progress after {secs} s"),
    }
}

/// Polls `condition` until it holds, for at most `secs` seconds.
pub(crate) fn eventually(secs: u64, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if condition() {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    condition()
}

/// One CPU, driven by hand from the test thread, with a clock the test
/// sets.  `halt` is never called (tests use `run_once`).
pub(crate) struct ManualPlatform {
    now: AtomicU64,
    pub(crate) pends: AtomicUsize,
}

impl ManualPlatform {
    pub(crate) fn set_now(&self, now: u64) {
        self.now.store(now, Ordering::SeqCst);
    }
}

impl Platform for ManualPlatform {
    fn cpu_count(&self) -> usize {
        1
    }
    fn current_cpu(&self) -> usize {
        0
    }
    fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
    fn pend(&self, _cpu: usize) {
        self.pends.fetch_add(1, Ordering::SeqCst);
    }
    fn halt(&self, _deadline: Option<u64>) {
        unreachable!("manual runtimes are driven with run_once");
    }
}

pub(crate) fn manual_runtime(config: Config) -> (&'static Runtime, &'static ManualPlatform) {
    let platform: &'static ManualPlatform = Box::leak(Box::new(ManualPlatform {
        now: AtomicU64::new(0),
        pends: AtomicUsize::new(0),
    }));
    (Runtime::new(platform, config), platform)
}

/// Counts its drops in a shared counter.
pub(crate) struct DropCounter(pub(crate) Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future that never completes.
pub(crate) async fn forever() {
    std::future::pending::<()>().await;
}
