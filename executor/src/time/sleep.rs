//! [`Sleep`]: a future that resolves once the platform clock reaches a
//! deadline.
//!
//! It registers with the timer queue of the CPU that first polls it, and
//! stays there even if its task is later stolen: the timer queue is locked,
//! so re-registering the waker or cancelling works from any CPU, and the
//! wake, when the timer fires, is routed to wherever the task lives.
#![forbid(unsafe_code)]

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::timer_queue::TimerKey;
use crate::context;
use crate::runtime::Runtime;

/// Resolves at `deadline` (nanoseconds, platform clock), never earlier.
/// Dropping it cancels the timer.
pub struct Sleep {
    runtime: &'static Runtime,
    deadline: u64,
    /// The CPU whose queue holds the timer, and its key.
    registered: Option<(usize, TimerKey)>,
}

/// Sleeps until `deadline` on the calling CPU's runtime.
pub fn sleep_until(deadline: u64) -> Sleep {
    Sleep::new(context::current(), deadline)
}

/// Sleeps for `duration_ns` from now.
pub fn sleep(duration_ns: u64) -> Sleep {
    let runtime = context::current();
    Sleep::new(runtime, runtime.now().saturating_add(duration_ns))
}

impl Sleep {
    pub(crate) fn new(runtime: &'static Runtime, deadline: u64) -> Self {
        Self {
            runtime,
            deadline,
            registered: None,
        }
    }

    pub fn deadline(&self) -> u64 {
        self.deadline
    }

    fn register(&mut self, cx: &Context<'_>) {
        let cpu = self.runtime.home_cpu();
        let queue = &self.runtime.cpu(cpu).timers;
        let (key, earliest) = queue.insert(self.deadline, cx.waker().clone());
        self.registered = Some((cpu, key));
        // Registered from off that CPU (a host thread): the CPU may be
        // halted with a later deadline, so make it look again.
        if earliest && self.runtime.platform().current_cpu() != cpu {
            self.runtime.notify(cpu);
        }
    }

    fn deregister(&mut self) {
        if let Some((cpu, key)) = self.registered.take() {
            self.runtime.cpu(cpu).timers.remove(key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.runtime.now() >= this.deadline {
            this.deregister();
            return Poll::Ready(());
        }
        match this.registered {
            Some((cpu, key)) => {
                // Fired early by a skewed clock elsewhere: register again.
                if !this.runtime.cpu(cpu).timers.update(key, cx.waker()) {
                    this.registered = None;
                    this.register(cx);
                }
            }
            None => this.register(cx),
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.deregister();
    }
}
