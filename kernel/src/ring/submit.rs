//! How a batch of SQEs runs.
//!
//! ```text
//! SQEs ──split──> units: a lone SQE, or an IO_LINK chain (an op may be
//!                 followed by a LINK_TIMEOUT that races it)
//!   lone op done at once      -> its CQE joins the batch's CQEs
//!   lone op still running     -> a task: run it (cancellable), post
//!   chain                     -> a task: run the ops in order; after a
//!                                failure the rest get -ECANCELED
//!   an SQE with IO_DRAIN      -> a barrier: it and every SQE after it
//!                                (later submissions too) wait until no op
//!                                runs, then go on in order
//! ```
//!
//! ASYNC_CANCEL is handled here, next to the list of running ops: its
//! `addr` is the `user_data` to cancel; `res` is 0 when something was
//! cancelled (that op posts `-ECANCELED`), `-ENOENT` otherwise.

use super::Ring;
use super::check::check;
use super::inflight::CancelToken;
use crate::mm::pin::PinnedBuffer;
use crate::ops::{self, Context, Started};
use abi::{Cqe, CqeFlags, Errno, Opcode, Sqe, SqeFlags};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::mem::MaybeUninit;

/// CQEs of ops that finished at once, posted together (one lock, one CQ
/// tail store and one wake for many), kept on the stack: a heap block per
/// `ring_enter` cost a single NOP about 33 instructions.  Posted when full
/// and by [`CqeBatch::post`]; dropped unposted, it posts what it holds.
/// `repr(C)` with `len` apart from `cqes`: next to it, LLVM folded the
/// store of 0 and the uninitialized array into one 264-byte `memset`.
#[repr(C)]
pub struct CqeBatch<'a> {
    len: usize,
    ring: &'a Ring,
    cqes: [MaybeUninit<Cqe>; CQE_BATCH],
}

/// CQEs a [`CqeBatch`] holds before it posts them.
const CQE_BATCH: usize = 16;

impl<'a> CqeBatch<'a> {
    pub fn new(ring: &'a Ring) -> Self {
        Self {
            ring,
            cqes: [MaybeUninit::uninit(); CQE_BATCH],
            len: 0,
        }
    }

    /// Posts what it holds, if anything.
    pub fn post(&mut self) {
        if self.len > 0 {
            // SAFETY: the first `len` entries were written by `push`.
            let cqes = unsafe { &*(&raw const self.cqes[..self.len] as *const [Cqe]) };
            self.ring.post_all(cqes);
            self.len = 0;
        }
    }
}

/// Where the CQEs of ops that finished at once go: a [`CqeBatch`], which
/// posts them, or a list (the tests that look at them).
pub trait Completions {
    fn push(&mut self, cqe: Cqe);
    /// Posts what was pushed so far (a list keeps it).
    fn post(&mut self) {}
}

impl Completions for CqeBatch<'_> {
    fn push(&mut self, cqe: Cqe) {
        if self.len == CQE_BATCH {
            self.post();
        }
        self.cqes[self.len].write(cqe);
        self.len += 1;
    }

    fn post(&mut self) {
        CqeBatch::post(self);
    }
}

impl Completions for Vec<Cqe> {
    fn push(&mut self, cqe: Cqe) {
        Vec::push(self, cqe);
    }
}

impl Drop for CqeBatch<'_> {
    fn drop(&mut self) {
        self.post();
    }
}

fn flags(sqe: &Sqe) -> SqeFlags {
    SqeFlags::from_bits_truncate(sqe.flags)
}

fn is(sqe: &Sqe, opcode: Opcode) -> bool {
    sqe.op() == Ok(opcode)
}

/// Where `sqe`'s result goes: to the thread its `personality` names (a
/// delivery: no CQE), or into a CQE, unless CQE_SKIP_SUCCESS hides it.
fn finish(context: &Context, sqe: &Sqe, res: i32) -> Option<Cqe> {
    // A thread that is gone (it ended) gets no delivery: the result becomes
    // a CQE.
    if sqe.personality != 0
        && let Some(thread) = context.process.thread(u32::from(sqe.personality) - 1)
    {
        thread.deliver(res);
        return None;
    }
    let skip = flags(sqe).contains(SqeFlags::CQE_SKIP_SUCCESS) && res >= 0;
    (!skip).then(|| Cqe::new(sqe.user_data, res, CqeFlags::empty()))
}

fn post(ring: &Ring, context: &Context, sqe: &Sqe, res: i32) {
    if let Some(cqe) = finish(context, sqe, res) {
        ring.post(cqe);
    }
}

/// The length of the unit `rest` starts with: up to and including the
/// first SQE without IO_LINK.
fn unit_len(rest: &[Sqe]) -> usize {
    rest.iter()
        .position(|sqe| !flags(sqe).contains(SqeFlags::IO_LINK))
        .map_or(rest.len(), |i| i + 1)
}

/// Splits `sqes` into units: each ends at the first SQE without IO_LINK.
fn units(sqes: &[Sqe]) -> impl Iterator<Item = &[Sqe]> {
    let mut rest = sqes;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (unit, tail) = rest.split_at(unit_len(rest));
        rest = tail;
        Some(unit)
    })
}

/// Runs a batch just taken from the SQ; CQEs of ops that finished at once
/// go to `done`, which posts them together.
pub fn submit(ring: &Arc<Ring>, sqes: &[Sqe], context: &Context, done: &mut impl Completions) {
    // A barrier is up: everything waits behind it, in order.
    if ring.queue_behind_barrier(sqes) {
        return;
    }
    let mut offset = 0;
    while let Some(first) = sqes.get(offset) {
        let len = match flags(first) & (SqeFlags::IO_DRAIN | SqeFlags::IO_LINK) {
            // The common case, kept lean: it is most of what a cheap op
            // costs.
            none if none.is_empty() => 1,
            some if some.contains(SqeFlags::IO_DRAIN) => {
                // What finished before the drain is posted before it can
                // run (its task may start on another CPU at once).
                done.post();
                ring.raise_barrier(&sqes[offset..]);
                spawn_drain(ring.clone(), context.clone());
                return;
            }
            _ => unit_len(&sqes[offset..]),
        };
        run_unit(ring, &sqes[offset..offset + len], context, done);
        offset += len;
    }
}

#[inline(always)]
fn run_unit(ring: &Arc<Ring>, unit: &[Sqe], context: &Context, done: &mut impl Completions) {
    match unit {
        [sqe] => run_lone(ring, sqe, context, done),
        _ => spawn_chain(ring, unit, context),
    }
}

#[inline(never)]
fn spawn_chain(ring: &Arc<Ring>, unit: &[Sqe], context: &Context) {
    ring.inflight.hold();
    let (ring, unit, context) = (ring.clone(), unit.to_vec(), context.clone());
    spawn(async move {
        run_chain(&ring, &unit, &context).await;
        ring.inflight.release();
    });
}

/// Runs an SQE that is not part of a chain.
#[inline(always)]
fn run_lone(ring: &Arc<Ring>, sqe: &Sqe, context: &Context, done: &mut impl Completions) {
    if sqe.personality != 0 && !delivery_target_exists(sqe, context) {
        // No such thread to deliver to: said in a CQE.
        done.push(Cqe::new(
            sqe.user_data,
            Errno::ESRCH.as_res(),
            CqeFlags::empty(),
        ));
        return;
    }
    let res = match check(sqe) {
        Err(errno) => errno.as_res(),
        Ok(Opcode::AsyncCancel) => cancel(ring, sqe),
        // A link timeout with nothing linked before it.
        Ok(Opcode::LinkTimeout) => Errno::EINVAL.as_res(),
        Ok(opcode) => match ops::start_op(opcode, sqe, context) {
            Started::Done(res) => res,
            Started::Running(running) => return spawn_running(ring, sqe, running, context),
            Started::PinBusy => return spawn_when_pins_drop(ring, sqe, context),
        },
    };
    if sqe.personality == 0 {
        if res < 0 || !flags(sqe).contains(SqeFlags::CQE_SKIP_SUCCESS) {
            done.push(Cqe::new(sqe.user_data, res, CqeFlags::empty()));
        }
    } else {
        if let Some(cqe) = finish(context, sqe, res) {
            done.push(cqe);
        }
    }
}

fn delivery_target_exists(sqe: &Sqe, context: &Context) -> bool {
    context
        .process
        .thread(u32::from(sqe.personality) - 1)
        .is_some()
}

/// Runs an op that did not finish at once as a task, which posts its CQE.
#[inline(never)]
fn spawn_running(ring: &Arc<Ring>, sqe: &Sqe, running: ops::RunningOp, context: &Context) {
    let ops::RunningOp { future, pinned } = running;
    let token = ring.inflight.begin(sqe.user_data);
    let (ring, context) = (ring.clone(), context.clone());
    // Only what the post needs, not the 64-byte SQE: this task is most of
    // what a blocked operation costs.
    let (user_data, flags, personality) = (sqe.user_data, sqe.flags, sqe.personality);
    spawn(async move {
        let res = token.run(future).await;
        let sqe = Sqe {
            user_data,
            flags,
            personality,
            ..Sqe::default()
        };
        complete(&ring, &context, &sqe, res, pinned, &token);
    });
}

/// Runs an op that could not pin its buffer yet ([`Started::PinBusy`]) as
/// a task: it starts once a pin goes, and its buffer stays pinned until
/// its CQE is posted, as for any op.  The wait can be cancelled like the
/// op.
#[inline(never)]
fn spawn_when_pins_drop(ring: &Arc<Ring>, sqe: &Sqe, context: &Context) {
    let token = ring.inflight.begin(sqe.user_data);
    let (ring, context, sqe) = (ring.clone(), context.clone(), *sqe);
    spawn(async move {
        let mut pinned = None;
        let op = ops::run_to_end(&sqe, &context, Started::PinBusy, &mut pinned);
        let res = token.run(op).await;
        complete(&ring, &context, &sqe, res, pinned, &token);
    });
}

/// Ends a lone op's task: posts its CQE (`-ECANCELED` if it was cancelled,
/// `res` `None`), then drops its buffer's pins (a MUNMAP waiting on them
/// completes after this CQE, never before) and its place in the running
/// list.
fn complete(
    ring: &Ring,
    context: &Context,
    sqe: &Sqe,
    res: Option<i32>,
    pinned: Option<Arc<PinnedBuffer>>,
    token: &CancelToken,
) {
    post(ring, context, sqe, res.unwrap_or(Errno::ECANCELED.as_res()));
    drop(pinned);
    ring.inflight.end(sqe.user_data, token);
}

fn cancel(ring: &Ring, sqe: &Sqe) -> i32 {
    match ring.inflight.cancel(sqe.addr) {
        0 => Errno::ENOENT.as_res(),
        _ => 0,
    }
}

/// Runs a chain's ops one after another.  After a failure (a negative
/// result) every later op completes with `-ECANCELED` without running.
async fn run_chain(ring: &Arc<Ring>, unit: &[Sqe], context: &Context) {
    let mut failed = false;
    let mut index = 0;
    while index < unit.len() {
        let sqe = unit[index];
        let link_timeout = unit
            .get(index + 1)
            .filter(|next| is(next, Opcode::LinkTimeout))
            .copied();
        index += 1 + usize::from(link_timeout.is_some());
        if failed {
            post(ring, context, &sqe, Errno::ECANCELED.as_res());
            if let Some(timeout) = link_timeout {
                post(ring, context, &timeout, Errno::ECANCELED.as_res());
            }
            continue;
        }
        let (res, pinned) = match check(&sqe) {
            Err(errno) => (errno.as_res(), None),
            Ok(Opcode::AsyncCancel) => (cancel(ring, &sqe), None),
            Ok(Opcode::LinkTimeout) => (Errno::EINVAL.as_res(), None),
            Ok(opcode) => run_linked(ring, &sqe, opcode, link_timeout.as_ref(), context).await,
        };
        post(ring, context, &sqe, res);
        // Unpinned only now that the CQE is out.
        drop(pinned);
        failed = res < 0;
    }
}

/// Runs one op of a chain (`opcode`, its SQE checked), raced against its
/// link timeout if it has one (whose CQE is posted here: `-ETIME` if it
/// fired, else `-ECANCELED`).
/// Returns the op's result and the buffer it used, which the caller keeps
/// pinned until it has posted the op's CQE.
async fn run_linked(
    ring: &Ring,
    sqe: &Sqe,
    opcode: Opcode,
    link_timeout: Option<&Sqe>,
    context: &Context,
) -> (i32, Option<Arc<PinnedBuffer>>) {
    // A link timeout that fails the checks is EINVAL before anything in it
    // is read.
    let deadline = match link_timeout
        .map(|timeout| check(timeout).and_then(|_| ops::timeout::deadline(timeout, context)))
    {
        Some(Err(errno)) => {
            post(
                ring,
                context,
                link_timeout.expect("matched Some"),
                errno.as_res(),
            );
            return (Errno::ECANCELED.as_res(), None);
        }
        Some(Ok(deadline)) => Some(deadline),
        None => None,
    };
    let token = ring.inflight.begin(sqe.user_data);
    let mut pinned = None;
    let res = match ops::start_op(opcode, sqe, context) {
        // Done at once: it took effect, whatever a cancel says now.
        Started::Done(res) => Some(res),
        // The link timeout races the rest of the op, from its start: one
        // that waits for pin room first is timed out like one that waits
        // for data.
        started => {
            let op = ops::run_to_end(sqe, context, started, &mut pinned);
            match deadline {
                None => token.run(op).await,
                Some(deadline) => match token.run(executor::timeout(op, deadline)).await {
                    Some(Ok(res)) => Some(res),
                    Some(Err(_elapsed)) => {
                        if let Some(timeout) = link_timeout {
                            post(ring, context, timeout, Errno::ETIME.as_res());
                        }
                        ring.inflight.end(sqe.user_data, &token);
                        return (Errno::ECANCELED.as_res(), pinned);
                    }
                    None => None,
                },
            }
        }
    };
    ring.inflight.end(sqe.user_data, &token);
    if let Some(timeout) = link_timeout {
        post(ring, context, timeout, Errno::ECANCELED.as_res());
    }
    (res.unwrap_or(Errno::ECANCELED.as_res()), pinned)
}

/// Runs what waits behind the barrier: each time no op is running, the
/// queue up to the next IO_DRAIN SQE.
fn spawn_drain(ring: Arc<Ring>, context: Context) {
    ring.inflight.hold();
    spawn(async move {
        // The barrier itself counts as running; wait for everything else.
        loop {
            ring.inflight.release();
            ring.inflight.drained().await;
            ring.inflight.hold();
            let Some(batch) = ring.take_barrier_batch() else {
                break;
            };
            // A draining unit runs alone: what follows it waits until it
            // (and everything else) has completed, as IO_DRAIN requires.
            let mut done = CqeBatch::new(&ring);
            let mut offset = 0;
            for unit in units(&batch) {
                let drains = flags(&unit[0]).contains(SqeFlags::IO_DRAIN);
                if offset > 0 && drains {
                    ring.requeue_behind_barrier(&batch[offset..]);
                    break;
                }
                run_unit(&ring, unit, &context, &mut done);
                offset += unit.len();
                if drains {
                    ring.requeue_behind_barrier(&batch[offset..]);
                    break;
                }
            }
            done.post();
        }
        ring.inflight.release();
    });
}

fn spawn(future: impl core::future::Future<Output = ()> + Send + 'static) {
    let runtime = crate::sched::runtime().expect("rings run under the executors");
    runtime.spawn(future).detach();
}
