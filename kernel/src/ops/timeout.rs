//! TIMEOUT, and the deadline LINK_TIMEOUT shares with it.
//!
//! `addr` points to a `Timespec`, `len` is 1, `op_flags` may hold
//! `TimeoutFlags::ABS` (the timespec is then a time on the kernel's
//! monotonic clock: nanoseconds since boot).  `off`, io_uring's completion
//! count, must be 0 here: a count is refused with `EOPNOTSUPP`.  The op
//! completes with `-ETIME` when the deadline passes.

use super::{Context, OpFuture, Started};

use abi::{Errno, Sqe, TimeoutFlags, Timespec};
use alloc::boxed::Box;

/// The deadline an SQE of TIMEOUT or LINK_TIMEOUT names.
pub fn deadline(sqe: &Sqe, context: &Context) -> Result<u64, Errno> {
    if sqe.len != 1 {
        return Err(Errno::EINVAL);
    }
    let flags = TimeoutFlags::from_bits(sqe.op_flags).ok_or(Errno::EINVAL)?;
    let bytes: [u8; 16] = context
        .process
        .with_space_mut(|space| crate::mm::pin::read_bytes(space, sqe.addr))
        .ok_or(Errno::ESRCH)??;
    let (seconds, nanoseconds) = bytes.split_at(8);
    let spec = Timespec {
        tv_sec: i64::from_le_bytes(seconds.try_into().map_err(|_| Errno::EFAULT)?),
        tv_nsec: i64::from_le_bytes(nanoseconds.try_into().map_err(|_| Errno::EFAULT)?),
    };
    let ns = spec.to_ns().ok_or(Errno::EINVAL)?;
    Ok(if flags.contains(TimeoutFlags::ABS) {
        ns
    } else {
        crate::time::now_ns().saturating_add(ns)
    })
}

pub fn start(sqe: &Sqe, context: &Context) -> Started {
    if sqe.off != 0 {
        return Started::Done(Errno::EOPNOTSUPP.as_res());
    }
    match deadline(sqe, context) {
        Err(errno) => Started::Done(errno.as_res()),
        Ok(deadline) => {
            let future: OpFuture = Box::pin(async move {
                executor::sleep_until(deadline).await;
                Errno::ETIME.as_res()
            });
            Started::from(future)
        }
    }
}
