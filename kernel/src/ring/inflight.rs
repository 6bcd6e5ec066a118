//! The operations a ring has running, for `ASYNC_CANCEL` and `IO_DRAIN`.
//!
//! Every op that does not finish at once gets a [`CancelToken`], listed
//! under its `user_data` while it runs.  Cancelling sets the token and
//! wakes the op's task, which drops the op's future (releasing whatever it
//! held: pinned buffers, timers, waits) and posts `-ECANCELED`.  The count
//! of running ops, with an event at zero, is what a drain waits for.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::{Context, Poll};
use executor::Event;
use spin::Mutex;

/// Set when the op must stop.  A flag and the waiting task's waker: no
/// event (a blocked op's footprint is mostly this machinery).
#[derive(Default)]
pub struct CancelToken {
    cancelled: AtomicBool,
    waker: Mutex<Option<core::task::Waker>>,
}

impl CancelToken {
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        if let Some(waker) = self.waker.lock().take() {
            waker.wake();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Runs `op` until it finishes (`Some`) or the token is cancelled
    /// (`None`, and `op` is dropped).
    pub async fn run<F: Future>(&self, op: F) -> Option<F::Output> {
        let mut op = core::pin::pin!(op);
        core::future::poll_fn(|cx: &mut Context<'_>| {
            if self.is_cancelled() {
                return Poll::Ready(None);
            }
            *self.waker.lock() = Some(cx.waker().clone());
            // A cancel between the check and the store either saw the waker
            // or set the flag before this load.
            if self.is_cancelled() {
                return Poll::Ready(None);
            }
            op.as_mut().poll(cx).map(Some)
        })
        .await
    }
}

#[derive(Default)]
pub struct Inflight {
    running: Mutex<Running>,
    count: AtomicUsize,
    idle: Event,
}

#[derive(Default)]
struct Running {
    ops: Vec<(u64, Arc<CancelToken>)>,
    /// The ring's process has ended: every op is cancelled, and one that
    /// begins later is cancelled from the start.
    closed: bool,
}

impl Inflight {
    /// Registers an op that is starting; its token cancels it.
    pub fn begin(&self, user_data: u64) -> Arc<CancelToken> {
        let token = Arc::new(CancelToken::default());
        {
            let mut running = self.running.lock();
            if running.closed {
                token.cancel();
            }
            running.ops.push((user_data, token.clone()));
        }
        self.count.fetch_add(1, Ordering::AcqRel);
        token
    }

    /// Cancels every running op and every op that begins from now on (the
    /// process that owns the ring has ended: nothing it asked for may
    /// outlive it and hold its buffers, pipe ends or timers).
    pub fn close(&self) {
        let mut running = self.running.lock();
        running.closed = true;
        for (_, token) in &running.ops {
            token.cancel();
        }
    }

    /// Counts a chain or barrier as running (for drains), without a token.
    pub fn hold(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
    }

    /// Ends a [`Inflight::hold`].
    pub fn release(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.wake_all();
        }
    }

    /// Unregisters an op that has posted its CQE.
    pub fn end(&self, token: &Arc<CancelToken>) {
        {
            let mut running = self.running.lock();
            running.ops.retain(|(_, entry)| !Arc::ptr_eq(entry, token));
            shrink(&mut running.ops);
        }
        self.release();
    }

    /// Cancels every running op with `user_data`; how many there were.
    pub fn cancel(&self, user_data: u64) -> usize {
        let running = self.running.lock();
        let mut found = 0;
        for (_, token) in running.ops.iter().filter(|(data, _)| *data == user_data) {
            token.cancel();
            found += 1;
        }
        found
    }

    /// Whether no op is running (a snapshot).
    pub fn is_idle(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    /// Waits until no op is running.
    pub async fn drained(&self) {
        self.idle
            .wait_until(|| self.count.load(Ordering::Acquire) == 0)
            .await;
    }
}

/// Gives back a vector's spare room once it is mostly empty, so a burst
/// (10,000 blocked ops) leaves nothing behind when it is over.
pub fn shrink<T>(vector: &mut Vec<T>) {
    if vector.capacity() > 16 && vector.len() < vector.capacity() / 4 {
        vector.shrink_to(vector.len() * 2);
    }
}
