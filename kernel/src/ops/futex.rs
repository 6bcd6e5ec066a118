//! FUTEX_WAIT and FUTEX_WAKE (io_uring's futex2 form): 32-bit, private.
//!
//! - FUTEX_WAIT: `addr` = the futex word (4-byte aligned), `off` = the
//!   value expected there, `fd` = `FUTEX2_SIZE_U32` (optionally with
//!   `FUTEX2_PRIVATE`), `addr3` = `FUTEX_BITSET_MATCH_ANY`.  `-EAGAIN` at
//!   once if the word differs; else 0 when woken.
//! - FUTEX_WAKE: same fields, `off` = how many to wake; `res` = how many
//!   were woken.
//!
//! The check of the word and the queueing happen under the process's futex
//! lock, which FUTEX_WAKE takes too: a wake after the check always finds
//! the waiter.

use super::{Context, OpFuture, Started};

use crate::proc::process::{FutexWaiter, Process};
use abi::file::{FUTEX_BITSET_MATCH_ANY, FUTEX2_PRIVATE, FUTEX2_SIZE_U32};
use abi::{Errno, Sqe};
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::Ordering;
use core::task::{Context as TaskContext, Poll};

fn check(sqe: &Sqe) -> Result<(), Errno> {
    let flags_ok = sqe.fd & !FUTEX2_PRIVATE == FUTEX2_SIZE_U32;
    if !flags_ok || sqe.addr3 != FUTEX_BITSET_MATCH_ANY {
        return Err(Errno::EINVAL);
    }
    if !sqe.addr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    // Futexes are keyed by the process and the word's address, so a wake
    // anywhere in user space reaches only this process's waiters; outside
    // it there is no word at all (a FUTEX_WAKE there used to say 0).
    if !(crate::proc::elf::USER_MIN..crate::proc::elf::USER_END).contains(&sqe.addr) {
        return Err(Errno::EFAULT);
    }
    Ok(())
}

fn read_word(process: &Process, addr: u64) -> Result<u32, Errno> {
    let bytes = process
        .with_space_mut(|space| crate::mm::pin::read_bytes(space, addr))
        .ok_or(Errno::ESRCH)??;
    Ok(u32::from_le_bytes(bytes))
}

pub fn wait(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        check(sqe)?;
        let expected = u32::try_from(sqe.off).map_err(|_| Errno::EINVAL)?;
        let process = &context.process;
        let waiter = Arc::new(FutexWaiter::default());
        let mut futexes = process.futexes.lock();
        if process.is_exiting() {
            return Err(Errno::EINTR);
        }
        if read_word(process, sqe.addr)? != expected {
            return Err(Errno::EAGAIN);
        }
        futexes
            .entry(sqe.addr)
            .or_default()
            .push_back(waiter.clone());
        let future: OpFuture = Box::pin(FutexWait {
            waiter,
            process: process.clone(),
            addr: sqe.addr,
        });
        Ok(future)
    })();
    match result {
        Ok(future) => Started::from(future),
        Err(errno) => Started::Done(errno.as_res()),
    }
}

pub fn wake(sqe: &Sqe, context: &Context) -> Started {
    let result = (|| {
        check(sqe)?;
        let mut futexes = context.process.futexes.lock();
        let Some(queue) = futexes.get_mut(&sqe.addr) else {
            return Ok(0);
        };
        let count = queue
            .len()
            .min(usize::try_from(sqe.off).unwrap_or(usize::MAX));
        for waiter in queue.drain(..count) {
            waiter.wake();
        }
        if queue.is_empty() {
            futexes.remove(&sqe.addr);
        }
        Ok(count as u32)
    })();
    result.into()
}

/// A FUTEX_WAIT in progress: done once woken; leaves the queue if dropped
/// first (cancelled).
struct FutexWait {
    waiter: Arc<FutexWaiter>,
    process: Arc<Process>,
    addr: u64,
}

impl Future for FutexWait {
    type Output = i32;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<i32> {
        if self.waiter.woken.load(Ordering::Acquire) {
            return Poll::Ready(0);
        }
        *self.waiter.waker.lock() = Some(cx.waker().clone());
        // Looked at again after the waker is in place: a wake in between
        // either saw the waker or set `woken` before this load.
        if self.waiter.woken.load(Ordering::Acquire) {
            Poll::Ready(0)
        } else {
            Poll::Pending
        }
    }
}

impl Drop for FutexWait {
    fn drop(&mut self) {
        if self.waiter.woken.load(Ordering::Acquire) {
            return;
        }
        let mut futexes = self.process.futexes.lock();
        if let Some(queue) = futexes.get_mut(&self.addr) {
            queue.retain(|waiter| !Arc::ptr_eq(waiter, &self.waiter));
            if queue.is_empty() {
                futexes.remove(&self.addr);
            }
        }
    }
}
