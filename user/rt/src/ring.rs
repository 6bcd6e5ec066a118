//! The process's ring, as the kernel mapped it and announced it in the
//! auxiliary vector (`AT_RING_ADDR`, `AT_RING_BYTES`).
//!
//! ```ignore
//! let mut ring = rt::ring::Ring::take()?;
//! ring.push(&Sqe { user_data: 7, ..Sqe::new(Opcode::Nop) })?;
//! ring.submit_and_wait(1)?;
//! let cqe = ring.pop();
//! ```

use crate::syscall::ring_enter;
use abi::ring::{CqConsumer, RawRing, SqProducer};
use abi::{Cqe, EnterFlags, Errno, Sqe};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static RING_ADDR: AtomicUsize = AtomicUsize::new(0);
static RING_BYTES: AtomicUsize = AtomicUsize::new(0);
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Records what the auxiliary vector said (called by `_start`).
#[cfg(not(test))]
pub(crate) fn set_mapping(addr: usize, bytes: usize) {
    RING_ADDR.store(addr, Ordering::Relaxed);
    RING_BYTES.store(bytes, Ordering::Relaxed);
}

/// Where the kernel mapped the process's ring, and how many bytes:
/// `(0, 0)` if it announced none.  For programs that look at the shared
/// header directly (the fuzzer corrupts it on purpose).
pub fn mapping() -> (usize, usize) {
    (
        RING_ADDR.load(Ordering::Relaxed),
        RING_BYTES.load(Ordering::Relaxed),
    )
}

/// The process's ring: the producer half of its SQ and the consumer half
/// of its CQ.  There is one per process; [`Ring::take`] hands it out once.
pub struct Ring {
    sq: SqProducer,
    cq: CqConsumer,
    /// SQEs queued but not yet handed to the kernel.
    unsubmitted: u32,
    /// CQEs reaped while waiting for a particular one ([`Ring::wait_for`]),
    /// kept in order for [`Ring::pop`]: none is ever dropped.
    stash: [Cqe; STASH],
    stash_head: usize,
    stash_len: usize,
}

/// CQEs [`Ring::wait_for`] can set aside.
const STASH: usize = 256;

impl Ring {
    /// The process's ring.  `EBUSY` if it was taken already; `ENODEV` if
    /// the kernel announced none; `EINVAL` if its header is not sound.
    pub fn take() -> Result<Self, Errno> {
        if TAKEN.swap(true, Ordering::AcqRel) {
            return Err(Errno::EBUSY);
        }
        Self::open()
    }

    /// The ring mapped at the announced address, as a fresh view (the
    /// caller makes sure no other view is used).
    fn open() -> Result<Self, Errno> {
        let addr = RING_ADDR.load(Ordering::Relaxed);
        let base = NonNull::new(addr as *mut u8).ok_or(Errno::ENODEV)?;
        // SAFETY: the kernel mapped `RING_BYTES` bytes at `addr` for the
        // life of the process, and this process touches them only through
        // one `RawRing` (`TAKEN`, and `reopen_after_fork`, keep it unique).
        let raw = unsafe { RawRing::from_mapping(base, RING_BYTES.load(Ordering::Relaxed))? };
        Ok(Self {
            sq: SqProducer::new(raw),
            cq: CqConsumer::new(raw),
            unsubmitted: 0,
            stash: [Cqe::default(); STASH],
            stash_head: 0,
            stash_len: 0,
        })
    }

    /// In a `fork` child: this view, copied from the parent mid-submit,
    /// becomes a view of the child's own ring (fresh and empty, at the
    /// same address).
    pub(crate) fn reopen_after_fork(&mut self) -> Result<(), Errno> {
        *self = Self::open()?;
        Ok(())
    }

    /// A free SQ slot, as liburing's `io_uring_get_sqe`: fill the [`Sqe`]
    /// it derefs to (a `prep` helper builds one), and it is queued when the
    /// slot is dropped.  `EBUSY` when the SQ is full (submit first).
    pub fn get_sqe(&mut self) -> Result<SqeSlot<'_>, Errno> {
        if !self.sq.reserve() {
            return Err(Errno::EBUSY);
        }
        Ok(SqeSlot {
            ring: self,
            sqe: Sqe::default(),
        })
    }

    /// The next CQE, waiting for it if needed (liburing's
    /// `io_uring_wait_cqe`; the CQE is consumed).
    pub fn wait_cqe(&mut self) -> Result<Cqe, Errno> {
        self.wait()
    }

    /// The CQEs ready now, in order, each consumed as it is yielded.
    pub fn cqes(&mut self) -> impl Iterator<Item = Cqe> + '_ {
        core::iter::from_fn(move || self.pop())
    }

    /// Queues `sqe`; `EBUSY` when the SQ is full (submit first).
    pub fn push(&mut self, sqe: &Sqe) -> Result<(), Errno> {
        self.sq.queue(sqe).map_err(|_| Errno::EBUSY)?;
        self.unsubmitted += 1;
        Ok(())
    }

    fn enter(&mut self, min_complete: u32) -> Result<u32, Errno> {
        self.sq.publish();
        // Everything published and not yet taken, not only what this call
        // published: SQEs left over by a refused call (EBUSY while the
        // kernel's overflow list was full) go in with these.
        let to_submit = self.sq.untaken();
        let flags = if min_complete > 0 {
            EnterFlags::GETEVENTS.bits()
        } else {
            0
        };
        let result = ring_enter(0, to_submit, min_complete, flags);
        if result < 0 {
            return Err(Errno::from_raw((-result) as i32).unwrap_or(Errno::EINVAL));
        }
        self.unsubmitted = 0;
        Ok(result as u32)
    }

    /// Makes the queued SQEs visible to the kernel without entering it;
    /// returns how many.  Any thread's next `ring_enter` submits them.
    pub fn publish(&mut self) -> u32 {
        self.unsubmitted = 0;
        self.sq.publish()
    }

    /// SQEs queued since the last submit or publish.
    pub fn unsubmitted(&self) -> u32 {
        self.unsubmitted
    }

    /// Hands the queued SQEs to the kernel; returns how many it took.
    pub fn submit(&mut self) -> Result<u32, Errno> {
        self.enter(0)
    }

    /// Submits, then waits until at least `count` CQEs are ready.
    pub fn submit_and_wait(&mut self, count: u32) -> Result<u32, Errno> {
        self.enter(count)
    }

    /// The next CQE, if one is ready (set-aside ones first).
    pub fn pop(&mut self) -> Option<Cqe> {
        if self.stash_len > 0 {
            let cqe = self.stash[self.stash_head];
            self.stash_head = (self.stash_head + 1) % STASH;
            self.stash_len -= 1;
            return Some(cqe);
        }
        self.cq.pop()
    }

    /// Waits for the CQE with `user_data`, setting every other one aside
    /// for [`Ring::pop`].  `EBUSY` if the stash is full.
    pub fn wait_for(&mut self, user_data: u64) -> Result<Cqe, Errno> {
        // Set-aside CQEs first: it may be among them.
        for offset in 0..self.stash_len {
            let index = (self.stash_head + offset) % STASH;
            if self.stash[index].user_data == user_data {
                let cqe = self.stash[index];
                // Close the gap, keeping the others in order.
                for later in offset..self.stash_len - 1 {
                    self.stash[(self.stash_head + later) % STASH] =
                        self.stash[(self.stash_head + later + 1) % STASH];
                }
                self.stash_len -= 1;
                return Ok(cqe);
            }
        }
        loop {
            let cqe = match self.cq.pop() {
                Some(cqe) => cqe,
                None => {
                    self.submit_and_wait(1)?;
                    continue;
                }
            };
            if cqe.user_data == user_data {
                return Ok(cqe);
            }
            if self.stash_len == STASH {
                return Err(Errno::EBUSY);
            }
            self.stash[(self.stash_head + self.stash_len) % STASH] = cqe;
            self.stash_len += 1;
        }
    }

    /// The next CQE, waiting for it if needed.
    pub fn wait(&mut self) -> Result<Cqe, Errno> {
        loop {
            if let Some(cqe) = self.pop() {
                return Ok(cqe);
            }
            self.submit_and_wait(1)?;
        }
    }

    /// CQEs the kernel holds in its overflow list (the CQ was full).
    pub fn overflowed(&self) -> u32 {
        self.cq.overflow()
    }
}

/// A CQE's result as the runtime reports it: an errno this ABI has no
/// name for becomes `EIO`.
pub fn result(cqe: &Cqe) -> Result<u32, Errno> {
    cqe.result().map_err(|e| e.known().unwrap_or(Errno::EIO))
}

/// An SQ slot from [`Ring::get_sqe`]: an [`Sqe`] to fill, queued when
/// dropped (the slot was reserved, so queueing cannot fail).
pub struct SqeSlot<'a> {
    ring: &'a mut Ring,
    sqe: Sqe,
}

impl core::ops::Deref for SqeSlot<'_> {
    type Target = Sqe;
    fn deref(&self) -> &Sqe {
        &self.sqe
    }
}

impl core::ops::DerefMut for SqeSlot<'_> {
    fn deref_mut(&mut self) -> &mut Sqe {
        &mut self.sqe
    }
}

impl Drop for SqeSlot<'_> {
    fn drop(&mut self) {
        let queued = self.ring.push(&self.sqe);
        debug_assert!(queued.is_ok(), "a reserved SQ slot was full");
    }
}

static SHARED: spin::Once<crate::sync::Mutex<Ring>> = spin::Once::new();

/// The process's ring behind a lock, for programs whose threads share it.
/// Takes the ring on first use (`EBUSY` if [`Ring::take`] had it already).
pub fn shared() -> Result<&'static crate::sync::Mutex<Ring>, Errno> {
    SHARED.try_call_once(|| Ring::take().map(crate::sync::Mutex::new))
}

/// Runs `sqe` on a shared ring as thread `me` and waits for its result,
/// which the kernel delivers to the thread (no CQE).  The lock is held only
/// to queue the SQE, never while blocked.
pub fn call(ring: &crate::sync::Mutex<Ring>, sqe: &Sqe, me: u16) -> Result<u32, Errno> {
    let sqe = Sqe {
        personality: abi::deliver_to_thread(me),
        ..*sqe
    };
    {
        let mut ring = ring.lock();
        ring.push(&sqe)?;
        ring.publish();
    }
    // Submits whatever is published (ours included), then waits for ours.
    let result = ring_enter(0, u32::MAX, 0, EnterFlags::WAIT_DELIVERED.bits());
    if result < 0 {
        Err(Errno::from_raw((-result) as i32).unwrap_or(Errno::EINVAL))
    } else {
        Ok(result as u32)
    }
}
