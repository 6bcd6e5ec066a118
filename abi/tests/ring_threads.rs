//! A program thread and a kernel thread drive one heap-backed ring through
//! the public user-side and kernel-side halves: 1,000,000 SQEs in, as many
//! CQEs out, with every index starting 100 below the `u32` wrap.

mod common;

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use abi::ring::{CqConsumer, CqProducer, RawRing, RingLayout, SqConsumer, SqProducer};
use abi::{Cqe, CqeFlags, Opcode, Sqe};
use common::HeapRing;

const TOTAL: u64 = 1_000_000;
const START: u32 = u32::MAX - 100;
/// SQEs the program submits before it reaps a CQE.
const HOLD_CQES_UNTIL: u64 = 96;
/// A side that makes no progress this long has lost an index update:
/// fail rather than hang.
const STALL: Duration = Duration::from_secs(20);

/// Yields, or panics if nothing has moved for [`STALL`].
fn idle(side: &str, last_progress: Instant) {
    assert!(last_progress.elapsed() < STALL, "{side} stalled");
    thread::yield_now();
}

/// What the kernel thread answers for SQE `n`: recognisable and checkable.
fn answer(n: u64) -> i32 {
    (n % 1_000_003) as i32
}

fn program(sq: &mut SqProducer, cq: &mut CqConsumer) {
    let mut next_sqe = 0u64;
    let mut next_cqe = 0u64;
    let mut last_progress = Instant::now();
    while next_cqe < TOTAL {
        let mut progressed = false;
        while next_sqe < TOTAL {
            let sqe = Sqe {
                user_data: next_sqe,
                off: next_sqe.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                ..Sqe::new(Opcode::Nop)
            };
            if sq.queue(&sqe).is_err() {
                break;
            }
            next_sqe += 1;
            progressed = true;
        }
        sq.publish();
        // No reaping until three SQs' worth is in: the kernel's CQ (32)
        // must overflow, whatever the threads' timing.
        if next_sqe < HOLD_CQES_UNTIL {
            if progressed {
                last_progress = Instant::now();
            } else {
                idle("program", last_progress);
            }
            continue;
        }
        while let Some(cqe) = cq.pop() {
            assert_eq!(cqe.user_data, next_cqe, "CQE lost, duplicated or reordered");
            assert_eq!(cqe.res, answer(next_cqe));
            next_cqe += 1;
            progressed = true;
        }
        if progressed {
            last_progress = Instant::now();
        } else {
            idle("program", last_progress);
        }
    }
    assert_eq!(cq.pop(), None, "CQE beyond the last SQE");
}

fn kernel(sq: &mut SqConsumer, cq: &mut CqProducer) {
    let mut batch = [Sqe::default(); 16];
    // The kernel's overflow list: nothing is ever dropped.
    let mut overflow = VecDeque::new();
    let mut next_sqe = 0u64;
    let mut max_overflow = 0;
    let mut last_progress = Instant::now();
    while next_sqe < TOTAL || !overflow.is_empty() {
        let mut progressed = false;
        while let Some(cqe) = overflow.front() {
            if cq.push(cqe).is_err() {
                break;
            }
            overflow.pop_front();
            progressed = true;
        }
        let taken = sq.take(&mut batch).expect("well-formed tail");
        for sqe in &batch[..taken] {
            assert_eq!(sqe.user_data, next_sqe, "SQE lost, duplicated or reordered");
            assert_eq!(
                sqe.off,
                next_sqe.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                "torn SQE"
            );
            next_sqe += 1;
            let cqe = Cqe::new(sqe.user_data, answer(sqe.user_data), CqeFlags::empty());
            if !overflow.is_empty() || cq.push(&cqe).is_err() {
                overflow.push_back(cqe);
            }
        }
        cq.set_overflow(overflow.len() as u32);
        max_overflow = max_overflow.max(overflow.len());
        if progressed || taken > 0 {
            last_progress = Instant::now();
        } else {
            idle("kernel", last_progress);
        }
    }
    // Small CQ, batches of 16: the overflow path must have been exercised.
    assert!(max_overflow > 0, "overflow list never used");
}

#[test]
fn a_million_sqes_through_the_wrap() {
    // SQ smaller than a batch's worth of CQ room, so all paths are taken.
    let heap = HeapRing::new(RingLayout::new(32, 32).unwrap(), START);
    let ring = heap.ring;
    let (base, len) = heap.mapping();
    // SAFETY: `heap` outlives the scope below; the memory is only accessed
    // through `RawRing`s.
    let program_ring = unsafe { RawRing::from_mapping(base, len) }.unwrap();
    let mut sq_user = SqProducer::new(program_ring);
    let mut cq_user = CqConsumer::new(program_ring);
    let mut sq_kernel = SqConsumer::new(ring);
    let mut cq_kernel = CqProducer::new(ring);
    thread::scope(|s| {
        s.spawn(|| kernel(&mut sq_kernel, &mut cq_kernel));
        s.spawn(|| program(&mut sq_user, &mut cq_user));
    });

    let end = START.wrapping_add(TOTAL as u32);
    let header = ring.header();
    for index in [
        &header.sq_head,
        &header.sq_tail,
        &header.cq_head,
        &header.cq_tail,
    ] {
        assert_eq!(index.load(Ordering::Relaxed), end);
    }
    assert_eq!(header.cq_overflow.load(Ordering::Relaxed), 0);
    assert_eq!(header.sq_flags.load(Ordering::Relaxed), 0);
    assert_eq!(header.sq_dropped.load(Ordering::Relaxed), 0);
}
