//! The `ring_enter(ring, to_submit, min_complete, flags)` trap.
//!
//! Takes up to `to_submit` SQEs (each copied exactly once), starts each as
//! an op future: done at once, its CQE is posted now; still running, it
//! becomes a task that posts when it finishes.  An IO_LINK chain runs
//! whole even when it spans several of the batches SQEs are copied in;
//! the end of the submission ends a chain still open, as in io_uring.  With `GETEVENTS` and fewer
//! than `min_complete` CQEs ready, the thread waits: it leaves the CPU, and
//! a small task holding it resumes it when enough CQEs are there (the
//! thread keeps no kernel stack meanwhile).

use super::Ring;
use crate::ops;
use crate::proc::process::Process;
use abi::{EnterFlags, Errno, Sqe};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::mem::MaybeUninit;

/// What the trap does next.
pub enum Outcome {
    /// Back to the thread with this result (SQEs taken, or -errno).
    Resume(i64),
    /// The thread waits for a result delivered to it (WAIT_DELIVERED).
    WaitDelivered,
    /// The thread gives up its CPU, then gets `submitted` (YIELD).
    Yield(i64),
    /// The thread waits for `min_complete` CQEs, then gets `submitted`.
    Wait {
        ring: Arc<Ring>,
        submitted: u32,
        min_complete: usize,
    },
}

/// SQEs copied per batch (the copies live on the kernel stack).
const BATCH: usize = 16;

fn links(sqe: &Sqe) -> bool {
    sqe.flags & abi::SqeFlags::IO_LINK.bits() != 0
}

pub fn enter(
    process: &Arc<Process>,
    ring_id: u64,
    to_submit: u64,
    min_complete: u64,
    flags: u64,
) -> Outcome {
    let Some(ring) = process.ring(ring_id) else {
        return Outcome::Resume(Errno::EBADF.as_res().into());
    };
    let Some(flags) = u32::try_from(flags).ok().and_then(EnterFlags::from_bits) else {
        return Outcome::Resume(Errno::EINVAL.as_res().into());
    };
    let (Ok(to_submit), Ok(min_complete)) = (u32::try_from(to_submit), u32::try_from(min_complete))
    else {
        return Outcome::Resume(Errno::EINVAL.as_res().into());
    };
    // At most a full SQ per call, as in io_uring: another thread refilling
    // the SQ cannot keep one call taking SQEs (and the kernel posting past
    // the overflow limit, which is checked once per call) without end.
    let to_submit = to_submit.min(ring.sq_entries());
    // Flushed first: a program that reaped and enters again must see the
    // room it made, or a full overflow list would refuse it forever.
    let overflowed = ring.flush_overflow();
    if to_submit > 0 && (overflowed >= super::shared::OVERFLOW_LIMIT || ring.barrier_full()) {
        return Outcome::Resume(Errno::EBUSY.as_res().into());
    }

    // Nothing to take: no context, no batch (the empty enter, a plain
    // wait for CQEs, is a path of its own).
    let submitted = match to_submit {
        0 => 0,
        _ => match take_and_run(&ring, process, to_submit) {
            Ok(submitted) => submitted,
            Err(errno) => return Outcome::Resume(errno.as_res().into()),
        },
    };

    if flags.contains(EnterFlags::WAIT_DELIVERED) {
        return Outcome::WaitDelivered;
    }
    if flags.contains(EnterFlags::YIELD) {
        return Outcome::Yield(submitted.into());
    }
    if flags.contains(EnterFlags::GETEVENTS)
        && (ring.completions_ready() as u64) < u64::from(min_complete)
    {
        return Outcome::Wait {
            ring,
            submitted,
            min_complete: min_complete as usize,
        };
    }
    Outcome::Resume(submitted.into())
}

/// Takes up to `to_submit` SQEs from `ring`, a batch at a time, and runs
/// them; how many it took, or the errno of a first take that failed.
fn take_and_run(ring: &Arc<Ring>, process: &Arc<Process>, to_submit: u32) -> Result<u32, Errno> {
    let context = ops::Context {
        process: process.clone(),
    };
    let mut submitted = 0u32;
    // Not zeroed: `take_submissions` writes what it returns.
    let mut batch = [MaybeUninit::<Sqe>::uninit(); BATCH];
    let mut done = super::submit::CqeBatch::new(ring);
    // An IO_LINK chain still open at the end of a batch: it goes on into
    // the next one, and only the end of the submission ends it early.
    let mut chain: Vec<Sqe> = Vec::new();
    let run = |sqes: &[Sqe], done: &mut super::submit::CqeBatch| {
        super::submit::submit(ring, sqes, &context, done);
        done.post();
    };
    while submitted < to_submit {
        let want = ((to_submit - submitted) as usize).min(BATCH);
        let taken = match ring.take_submissions(&mut batch[..want]) {
            Ok([]) => break,
            Ok(taken) => taken,
            Err(errno) if submitted == 0 => return Err(errno),
            Err(_) => break,
        };
        submitted += taken.len() as u32;
        let mut rest: &[Sqe] = taken;
        if !chain.is_empty() {
            let end = rest
                .iter()
                .position(|sqe| !links(sqe))
                .map_or(rest.len(), |i| i + 1);
            chain.extend_from_slice(&rest[..end]);
            rest = &rest[end..];
            if chain.last().is_some_and(links) {
                continue;
            }
            run(&chain, &mut done);
            chain.clear();
        }
        let closed = rest
            .iter()
            .rposition(|sqe| !links(sqe))
            .map_or(0, |i| i + 1);
        if closed > 0 {
            run(&rest[..closed], &mut done);
        }
        chain.extend_from_slice(&rest[closed..]);
    }
    if !chain.is_empty() {
        run(&chain, &mut done);
    }
    Ok(submitted)
}
