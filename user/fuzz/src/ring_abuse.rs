//! The `ring` worker: the program breaks its own ring.  It overwrites the
//! shared header (SQ and CQ heads, tails, sizes, flags) and fills SQ slots
//! with random bytes, calls `ring_enter` with random arguments, then
//! submits NOPs without ever reaping until the kernel refuses more, and
//! exits with all of it in place.  The kernel keeps its own copies of its
//! head and tail and only ever stores to the header's, so none of this may
//! hurt it: every call answers a count or an errno.
//!
//! The header is not to be trusted after this, so the worker reports only
//! through its exit status: the number of answers no contract allows.

use crate::rng::Rng;
use abi::ring::RawRing;
use abi::{EnterFlags, Errno, Opcode, Sqe, Syscall};
use core::ptr::NonNull;
use core::sync::atomic::Ordering::{Acquire, Release};

/// `ring_enter` with full 64-bit arguments (the runtime's wrapper takes
/// `u32`s, so it cannot pass the values the kernel must refuse).
fn ring_enter(ring: u64, to_submit: u64, min_complete: u64, flags: u64) -> i64 {
    let result: i64;
    // SAFETY: the trap reads only its register arguments; every
    // caller-saved register is declared clobbered.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") Syscall::RingEnter as u64 => result,
            in("rdi") ring,
            in("rsi") to_submit,
            in("rdx") min_complete,
            in("r10") flags,
            clobber_abi("sysv64"),
            options(nostack)
        );
    }
    result
}

pub fn run(seed: u64, count: u64) -> i32 {
    let (addr, bytes) = rt::ring::mapping();
    let Some(base) = NonNull::new(addr as *mut u8) else {
        return 100;
    };
    // SAFETY: the kernel mapped `bytes` bytes at `addr` for the life of
    // the process; this worker never takes the runtime's `Ring`, so this
    // is the one view of it (and what it does to it is the point).
    let Ok(raw) = (unsafe { RawRing::from_mapping(base, bytes) }) else {
        return 101;
    };
    let mut rng = Rng::new(seed);
    let mut bad = 0;
    let header = raw.header();
    for _ in 0..count {
        let kernel_head = header.sq_head.load(Acquire);
        let written_head = corrupt(&raw, &mut rng);
        let (ring, to_submit, min_complete, flags) = arguments(&mut rng);
        let res = ring_enter(ring, to_submit, min_complete, flags);
        // The kernel never reads `sq_head` (it keeps its own) and stores it
        // only when it takes SQEs: put back what it last stored, or the
        // worker loses track of where the kernel reads next.
        if written_head.is_some_and(|head| header.sq_head.load(Acquire) == head) {
            header.sq_head.store(kernel_head, Release);
        }
        if !allowed(
            ring,
            (to_submit, raw.layout().sq_entries()),
            min_complete,
            flags,
            res,
        ) {
            bad += 1;
        }
    }
    // The exit status says which part failed: the calls, or the CQ.
    bad.min(49) + 50 * never_reaped(&raw)
}

/// One corruption of the header or of the SQ slots; the `sq_head` it
/// wrote, if it did.
fn corrupt(raw: &RawRing, rng: &mut Rng) -> Option<u32> {
    let header = raw.header();
    let value = rng.boundary32();
    match rng.below(10) {
        0 => header.sq_tail.store(value, Release),
        1 => {
            header.sq_head.store(value, Release);
            return Some(value);
        }
        2 => header.cq_head.store(value, Release),
        3 => header.cq_tail.store(value, Release),
        4 => header.sq_entries.store(value, Release),
        5 => header.sq_mask.store(value, Release),
        6 => header.cq_mask.store(value, Release),
        7 => header.sq_flags.store(value, Release),
        8 => {
            // A tail the kernel will accept: a few slots of random bytes
            // (an op with every field random is refused: its reserved
            // fields are not zero) or NOPs.
            let head = header.sq_head.load(Acquire);
            let count = 1 + rng.below(8) as u32;
            for i in 0..count {
                let sqe = if rng.one_in(2) {
                    Sqe {
                        user_data: rng.next(),
                        ..Sqe::new(Opcode::Nop)
                    }
                } else {
                    let mut words = [0u64; Sqe::WORDS];
                    words.iter_mut().for_each(|word| *word = rng.next());
                    // Never a delivery to a thread: the worker does not
                    // wait for one.
                    words[5] &= !(0xffff << 16);
                    Sqe::from_words(words)
                };
                raw.write_sqe(head.wrapping_add(i), &sqe);
            }
            header.sq_tail.store(head.wrapping_add(count), Release);
        }
        _ => {
            // Back to sane: what the kernel last stored.
            let head = header.sq_head.load(Acquire);
            header.sq_tail.store(head, Release);
            let tail = header.cq_tail.load(Acquire);
            header.cq_head.store(tail, Release);
        }
    }
    None
}

/// `ring_enter` arguments: sensible mostly, boundary values often.  Never
/// a wait that nothing could end (`WAIT_DELIVERED`, or `GETEVENTS` for
/// CQEs that may never come).
fn arguments(rng: &mut Rng) -> (u64, u64, u64, u64) {
    let ring = if rng.one_in(4) { rng.boundary64() } else { 0 };
    let to_submit = if rng.one_in(3) {
        rng.boundary64()
    } else {
        rng.below(80)
    };
    let min_complete = if rng.one_in(4) { rng.boundary64() } else { 0 };
    let mut flags = if rng.one_in(3) { rng.boundary64() } else { 0 };
    flags &= !u64::from(EnterFlags::WAIT_DELIVERED.bits());
    if min_complete != 0 {
        flags &= !u64::from(EnterFlags::GETEVENTS.bits());
    }
    (ring, to_submit, min_complete, flags)
}

/// Whether `res` is what the trap's contract allows: `EBADF`, `EINVAL`,
/// `EBUSY`, or at most `to_submit` SQEs taken and never more than the SQ's
/// `entries` in one call.
fn allowed(
    ring: u64,
    (to_submit, entries): (u64, u32),
    min_complete: u64,
    flags: u64,
    res: i64,
) -> bool {
    let errno = |e: Errno| res == i64::from(e.as_res());
    if ring != 0 {
        return errno(Errno::EBADF);
    }
    let flags_ok = u32::try_from(flags)
        .ok()
        .and_then(EnterFlags::from_bits)
        .is_some();
    if !flags_ok || to_submit > u64::from(u32::MAX) || min_complete > u64::from(u32::MAX) {
        return errno(Errno::EINVAL);
    }
    // A malformed tail is EINVAL; a full overflow list EBUSY.
    let most = to_submit.min(u64::from(entries)) as i64;
    (0..=most).contains(&res) || errno(Errno::EINVAL) || errno(Errno::EBUSY)
}

/// NOPs submitted and never reaped: the CQ fills, the kernel's overflow
/// list takes the rest up to its limit, then `ring_enter` answers `EBUSY`.
/// Returns 1 if it never did.
fn never_reaped(raw: &RawRing) -> i32 {
    let header = raw.header();
    let head = header.sq_head.load(Acquire);
    header.sq_tail.store(head, Release);
    header.cq_head.store(header.cq_tail.load(Acquire), Release);
    let entries = raw.layout().sq_entries();
    for _ in 0..1_000 {
        let head = header.sq_head.load(Acquire);
        for i in 0..entries {
            raw.write_sqe(head.wrapping_add(i), &Sqe::new(Opcode::Nop));
        }
        header.sq_tail.store(head.wrapping_add(entries), Release);
        let res = ring_enter(0, u64::from(entries), 0, 0);
        if res == i64::from(Errno::EBUSY.as_res()) {
            return 0;
        }
        if res < 0 {
            return 1;
        }
    }
    1
}
