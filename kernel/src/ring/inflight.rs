//! The operations a ring has running, for `ASYNC_CANCEL` and `IO_DRAIN`.
//!
//! Every op that does not finish at once gets a [`CancelToken`], listed
//! under its `user_data` while it runs.  Cancelling sets the token and
//! wakes the op's task, which drops the op's future (releasing whatever it
//! held: pinned buffers, timers, waits) and posts `-ECANCELED`.  The count
//! of running ops, with an event at zero, is what a drain waits for.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::future::Future;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use core::task::{Context, Poll};
use executor::Event;
use spin::Mutex;

/// Set when the op must stop.  One word, the op's serial (where it is
/// listed, with its `user_data`) and the cancelled bit, and the waiting
/// task's waker: no event, and no key in the task (a blocked op's
/// footprint is mostly this machinery: 16 bytes of key in every task had
/// pushed a blocked op's task into the next slab class).
pub struct CancelToken {
    state: AtomicU64,
    waker: Mutex<Option<core::task::Waker>>,
}

/// The cancelled bit of [`CancelToken::state`]; the bits below are the
/// serial (2^63 ops per ring: never reached).
const CANCELLED: u64 = 1 << 63;

impl CancelToken {
    fn new(serial: u64) -> Self {
        Self {
            state: AtomicU64::new(serial),
            waker: Mutex::new(None),
        }
    }

    fn serial(&self) -> u64 {
        self.state.load(Ordering::Relaxed) & !CANCELLED
    }

    pub fn cancel(&self) {
        self.state.fetch_or(CANCELLED, Ordering::Release);
        if let Some(waker) = self.waker.lock().take() {
            waker.wake();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.state.load(Ordering::Acquire) & CANCELLED != 0
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
    /// The serial the next op is listed with.
    next_serial: AtomicU64,
    count: AtomicUsize,
    idle: Event,
}

/// Where a running op is listed: its `user_data`, then a serial number
/// that tells apart ops with the same one.
type Key = (u64, u64);

#[derive(Default)]
struct Running {
    /// A map, not a vector: an op's end and a cancel by `user_data` cost
    /// a lookup however many ops are pending (hundreds of thousands of
    /// blocked ops made a vector's linear search quadratic), and its nodes
    /// are small allocations, never one block the size of the whole list.
    ops: BTreeMap<Key, Arc<CancelToken>>,
    /// The ring's process has ended: every op is cancelled, and one that
    /// begins later is cancelled from the start.
    closed: bool,
}

impl Inflight {
    /// Registers an op that is starting, under `user_data`; its token
    /// cancels it.
    pub fn begin(&self, user_data: u64) -> Arc<CancelToken> {
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        let token = Arc::new(CancelToken::new(serial));
        {
            let mut running = self.running.lock();
            if running.closed {
                token.cancel();
            }
            running.ops.insert((user_data, serial), token.clone());
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
        for token in running.ops.values() {
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

    /// Unregisters an op that has posted its CQE: `token` from
    /// [`Inflight::begin`] with the same `user_data`.
    pub fn end(&self, user_data: u64, token: &CancelToken) {
        let removed = self.running.lock().ops.remove(&(user_data, token.serial()));
        debug_assert!(removed.is_some(), "an op ended that was not listed");
        self.release();
    }

    /// Cancels every running op with `user_data`; how many there were.
    pub fn cancel(&self, user_data: u64) -> usize {
        let running = self.running.lock();
        let mut found = 0;
        for token in running
            .ops
            .range((user_data, 0)..=(user_data, u64::MAX))
            .map(|(_, token)| token)
        {
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
