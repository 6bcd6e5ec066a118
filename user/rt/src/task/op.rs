//! [`Op`]: the future of one submitted SQE.
//!
//! # Buffers and drop
//!
//! The kernel pins the memory an SQE names when it takes the SQE and
//! writes it until it posts the CQE; that can be long after the future
//! that asked was dropped.  So an op owns that memory: the `buffers` its
//! SQE was built from ([`Handle::op_with`](super::Handle::op_with)) live in
//! a box inside the op, and come back with the CQE.  Dropping an op still
//! in flight hands the box to the reactor, which pushes an ASYNC_CANCEL and
//! frees the box only when the op's CQE arrives (`reactor` draws this).
//! The kernel never writes into freed memory; the worst a drop costs is
//! the buffers' lifetime stretching to that CQE.
//!
//! An op is submitted when it is made, not when first polled, so ops start
//! in the order a task makes them, and dropping one that was never polled
//! cancels it just the same.
#![forbid(unsafe_code)]

use super::Handle;
use abi::{Cqe, Errno};
use alloc::boxed::Box;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// One SQE in flight.  Resolves to `finish(cqe, buffers)`: by default the
/// CQE and the buffers themselves.
#[must_use = "an op does nothing useful unless awaited (dropping it cancels it)"]
pub struct Op<B: 'static, T = (Cqe, B)> {
    handle: Handle,
    state: State,
    buffers: Option<Box<B>>,
    finish: fn(Cqe, B) -> T,
}

enum State {
    /// Queued, under this key.
    Submitted(u64),
    /// The SQ would not take it: resolves to this errno without the kernel.
    Refused(Errno),
    /// Resolved.
    Finished,
}

impl<B: 'static, T> Op<B, T> {
    /// Queues the SQE `build` makes from the boxed `buffers`.
    pub(super) fn submit(
        handle: Handle,
        buffers: B,
        build: impl FnOnce(&mut B) -> abi::Sqe,
        finish: fn(Cqe, B) -> T,
    ) -> Self {
        let mut buffers = Box::new(buffers);
        let sqe = build(&mut buffers);
        let state = match handle.reactor().push(sqe) {
            Ok(key) => State::Submitted(key),
            Err(errno) => State::Refused(errno),
        };
        Self {
            handle,
            state,
            buffers: Some(buffers),
            finish,
        }
    }
}

impl<B: 'static, T> Future for Op<B, T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let cqe = match self.state {
            State::Submitted(key) => match self.handle.reactor().poll(key, cx.waker()) {
                Poll::Ready(cqe) => cqe,
                Poll::Pending => return Poll::Pending,
            },
            State::Refused(errno) => Cqe::new(0, errno.as_res(), abi::CqeFlags::empty()),
            State::Finished => panic!("op polled after it resolved"),
        };
        self.state = State::Finished;
        let buffers = self
            .buffers
            .take()
            .expect("an unresolved op has its buffers");
        Poll::Ready((self.finish)(cqe, *buffers))
    }
}

impl<B: 'static, T> Drop for Op<B, T> {
    fn drop(&mut self) {
        if let (State::Submitted(key), Some(buffers)) = (&self.state, self.buffers.take()) {
            self.handle.reactor().abandon(*key, buffers);
        }
    }
}
