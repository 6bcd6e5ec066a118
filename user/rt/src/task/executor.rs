//! [`Executor`]: runs tasks on the calling thread, and sleeps in the kernel
//! when none can run.  [`Handle`]: what tasks hold to spawn and submit.
//!
//! ```text
//!  spawn ──▶ spawned ──adopt──▶ tasks ◀──── poll ───── ready queue
//!                                 │                        ▲
//!                          await an Op                  wake (Waker)
//!                                 ▼                        │
//!                              reactor ── reap CQE ────────┘
//!                                 │
//!          nothing ready: ring_enter(GETEVENTS, min_complete = 1)
//! ```
//!
//! A round polls the tasks that were ready when it began (a task that
//! wakes itself runs again next round, so it cannot starve the others),
//! then reaps the CQEs already posted.  Only when no task is ready does the
//! executor enter the kernel, to submit and block for one completion; it
//! never polls the CQ in a loop.
#![forbid(unsafe_code)]

use super::reactor::{Reactor, Stats};
use super::slots::Slots;
use crate::ring::Ring;
use crate::sync::Mutex;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, Waker};

type BoxedTask = Pin<Box<dyn Future<Output = ()>>>;

/// A single-threaded executor over one ring.
pub struct Executor {
    handle: Handle,
    tasks: Slots<Task>,
}

struct Task {
    future: BoxedTask,
    waker: Arc<TaskWaker>,
}

/// Spawns tasks and submits ops on an [`Executor`]'s ring.  Cheap to
/// clone; not `Send` (it, and the ops, belong to the executor's thread).
#[derive(Clone)]
pub struct Handle {
    shared: Rc<Shared>,
}

struct Shared {
    reactor: Reactor,
    /// Spawned, not yet in the executor's table.
    spawned: RefCell<Vec<BoxedTask>>,
    ready: Arc<ReadyQueue>,
}

/// Keys of tasks to poll.  Wakers are `Send + Sync`, so this is locked
/// even though only the executor's thread pops it.  A wake from another
/// thread is queued too, but the executor sees it only after its next CQE:
/// tasks here wait for ops, not for other threads.
#[derive(Default)]
struct ReadyQueue {
    keys: Mutex<VecDeque<u64>>,
}

struct TaskWaker {
    key: u64,
    /// In the ready queue already: repeated wakes queue it once.
    queued: AtomicBool,
    ready: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Relaxed: the lock around the queue orders the rest.
        if !self.queued.swap(true, Ordering::Relaxed) {
            self.ready.keys.lock().push_back(self.key);
        }
    }
}

impl Executor {
    /// An executor that owns `ring`: from now on its ops go through here.
    pub fn new(ring: Ring) -> Self {
        Self {
            handle: Handle {
                shared: Rc::new(Shared {
                    reactor: Reactor::new(ring),
                    spawned: RefCell::new(Vec::new()),
                    ready: Arc::new(ReadyQueue::default()),
                }),
            },
            tasks: Slots::new(),
        }
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// See [`Handle::spawn`].
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs every task until all have finished, and until every op whose
    /// future was dropped has its CQE (so its buffers are freed).
    ///
    /// Panics if tasks remain but none can run and no op is in flight:
    /// nothing could ever wake them.
    pub fn run(&mut self) {
        self.run_until(|executor| {
            executor.tasks.is_empty() && executor.handle.reactor().orphans() == 0
        });
    }

    /// Runs `future` as a task, with the others, until it finishes, and
    /// returns its output.  Other tasks may remain for a later run.
    pub fn block_on<F>(&mut self, future: F) -> F::Output
    where
        F: Future + 'static,
    {
        let join = self.spawn(future);
        self.run_until(|_| join.is_finished());
        join.take().expect("finished")
    }

    fn run_until(&mut self, done: impl Fn(&Self) -> bool) {
        loop {
            self.adopt_spawned();
            let round = core::mem::take(&mut *self.handle.shared.ready.keys.lock());
            for key in round {
                self.poll(key);
            }
            self.adopt_spawned();
            if done(self) {
                return;
            }
            let reactor = self.handle.reactor();
            let reaped = reactor.reap();
            if !self.handle.shared.ready.keys.lock().is_empty() {
                // More to run: let the kernel start what was queued
                // meanwhile, without waiting for it.
                reactor.submit();
            } else if reaped == 0 {
                assert!(
                    reactor.in_flight() > 0,
                    "{} tasks wait, and no op is in flight to wake them",
                    self.tasks.len()
                );
                reactor.wait();
            }
        }
    }

    /// Moves spawned tasks into the table, each queued to run.
    fn adopt_spawned(&mut self) {
        let spawned = core::mem::take(&mut *self.handle.shared.spawned.borrow_mut());
        for future in spawned {
            let ready = self.handle.shared.ready.clone();
            let key = self.tasks.insert_with(|key| Task {
                future,
                waker: Arc::new(TaskWaker {
                    key,
                    queued: AtomicBool::new(false),
                    ready,
                }),
            });
            if let Some(task) = self.tasks.get(key) {
                task.waker.wake_by_ref();
            }
        }
    }

    fn poll(&mut self, key: u64) {
        // A key whose task finished already: a late wake.
        let Some(task) = self.tasks.get_mut(key) else {
            return;
        };
        // Before the poll: a wake during it queues the task again.
        task.waker.queued.store(false, Ordering::Relaxed);
        let waker = Waker::from(task.waker.clone());
        if task
            .future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
        {
            self.tasks.remove(key);
        }
    }

    /// What the reactor has done so far.
    pub fn stats(&self) -> Stats {
        self.handle.stats()
    }
}

impl Drop for Executor {
    /// Tasks spawned but never adopted hold the handle, whose `Shared`
    /// holds them: drop them here, or the cycle leaks the ring.
    fn drop(&mut self) {
        let spawned = core::mem::take(&mut *self.handle.shared.spawned.borrow_mut());
        drop(spawned);
    }
}

impl Handle {
    pub(super) fn reactor(&self) -> &Reactor {
        &self.shared.reactor
    }

    /// Starts `future` as a task on the executor; it first runs at the
    /// executor's next round.  The [`JoinHandle`] yields its output;
    /// dropping that lets the task run on, detached.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
    {
        let join = JoinHandle {
            state: Rc::new(RefCell::new(JoinState {
                output: None,
                finished: false,
                waiter: None,
            })),
        };
        let state = join.state.clone();
        self.shared.spawned.borrow_mut().push(Box::pin(async move {
            let output = future.await;
            let waiter = {
                let mut state = state.borrow_mut();
                state.output = Some(output);
                state.finished = true;
                state.waiter.take()
            };
            if let Some(waiter) = waiter {
                waiter.wake();
            }
        }));
        join
    }

    /// What the reactor has done so far.
    pub fn stats(&self) -> Stats {
        self.reactor().stats()
    }
}

/// A spawned task's output, to await.
pub struct JoinHandle<T> {
    state: Rc<RefCell<JoinState<T>>>,
}

struct JoinState<T> {
    output: Option<T>,
    finished: bool,
    waiter: Option<Waker>,
}

impl<T> JoinHandle<T> {
    pub fn is_finished(&self) -> bool {
        self.state.borrow().finished
    }

    fn take(&self) -> Option<T> {
        self.state.borrow_mut().output.take()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.state.borrow_mut();
        if let Some(output) = state.output.take() {
            return Poll::Ready(output);
        }
        assert!(!state.finished, "JoinHandle polled after it resolved");
        state.waiter = Some(cx.waker().clone());
        Poll::Pending
    }
}
