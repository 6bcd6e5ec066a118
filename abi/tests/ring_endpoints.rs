//! Single-threaded tests of the ring accessors and the four queue halves,
//! through the public API only.

mod common;

use std::sync::atomic::Ordering;

use abi::ring::{
    CqConsumer, CqFull, CqProducer, RawRing, RingLayout, SqConsumer, SqFull, SqProducer,
};
use abi::{Cqe, CqeFlags, Errno, Opcode, SqRingFlags, Sqe};
use common::HeapRing;

fn sqe(user_data: u64) -> Sqe {
    Sqe {
        user_data,
        addr: !user_data,
        ..Sqe::new(Opcode::Nop)
    }
}

#[test]
fn slots_alias_by_mask_and_arrays_do_not_overlap() {
    let heap = HeapRing::new(RingLayout::new(8, 16).unwrap(), 0);
    let ring = heap.ring;
    for i in 0..8 {
        ring.write_sqe(i, &sqe(u64::from(i)));
    }
    for i in 0..16 {
        ring.write_cqe(i, &Cqe::new(1000 + u64::from(i), -1, CqeFlags::empty()));
    }
    for i in 0..8u32 {
        // Index `i + entries` (and one past the u32 wrap) is the same slot.
        assert_eq!(ring.read_sqe(i + 8), sqe(u64::from(i)));
        assert_eq!(ring.read_sqe(i.wrapping_sub(8 * 4)), sqe(u64::from(i)));
    }
    for i in 0..16 {
        assert_eq!(ring.read_cqe(i + 16 * 3).user_data, 1000 + u64::from(i));
    }
}

#[test]
fn round_trip_across_the_wrap() {
    let start = u32::MAX - 5;
    let heap = HeapRing::new(RingLayout::new(4, 8).unwrap(), start);
    let mut sq_user = SqProducer::new(heap.ring);
    let mut sq_kernel = SqConsumer::new(heap.ring);
    let mut cq_kernel = CqProducer::new(heap.ring);
    let mut cq_user = CqConsumer::new(heap.ring);
    let mut taken = [Sqe::default(); 3];
    let mut next = 0u64;
    for _round in 0..10 {
        for _ in 0..3 {
            sq_user.queue(&sqe(next)).unwrap();
            next += 1;
        }
        assert_eq!(sq_user.publish(), 3);
        assert_eq!(sq_user.publish(), 0);
        assert_eq!(sq_kernel.take(&mut taken), Ok(3));
        for s in &taken {
            assert_eq!(s.addr, !s.user_data);
            let cqe = Cqe::from_result(s.user_data, Ok(7), CqeFlags::empty());
            cq_kernel.push(&cqe).unwrap();
        }
        for expect in next - 3..next {
            let cqe = cq_user.pop().unwrap();
            assert_eq!((cqe.user_data, cqe.result()), (expect, Ok(7)));
        }
        assert_eq!(cq_user.pop(), None);
    }
    let header = heap.ring.header();
    let end = start.wrapping_add(30);
    assert!(end < start, "the test must cross the wrap");
    for index in [
        &header.sq_head,
        &header.sq_tail,
        &header.cq_head,
        &header.cq_tail,
    ] {
        assert_eq!(index.load(Ordering::Relaxed), end);
    }
}

#[test]
fn producer_stops_at_full_and_take_respects_the_buffer() {
    let heap = HeapRing::new(RingLayout::new(4, 4).unwrap(), u32::MAX - 1);
    let mut sq_user = SqProducer::new(heap.ring);
    let mut sq_kernel = SqConsumer::new(heap.ring);
    for i in 0..4 {
        sq_user.queue(&sqe(i)).unwrap();
    }
    assert_eq!(sq_user.space(), 0);
    assert_eq!(sq_user.queue(&sqe(99)), Err(SqFull));
    // Unpublished SQEs are invisible to the kernel.
    assert_eq!(sq_kernel.pending(), Ok(0));
    assert_eq!(sq_user.publish(), 4);
    let mut two = [Sqe::default(); 2];
    assert_eq!(sq_kernel.take(&mut two), Ok(2));
    assert_eq!([two[0].user_data, two[1].user_data], [0, 1]);
    assert_eq!(sq_user.space(), 2);
    assert_eq!(sq_kernel.take(&mut two), Ok(2));
    assert_eq!([two[0].user_data, two[1].user_data], [2, 3]);
    assert_eq!(sq_kernel.take(&mut two), Ok(0));
}

#[test]
fn malformed_user_tail_is_rejected_and_counted() {
    let heap = HeapRing::new(RingLayout::new(8, 16).unwrap(), u32::MAX - 3);
    let header = heap.ring.header();
    let mut sq_user = SqProducer::new(heap.ring);
    let mut sq_kernel = SqConsumer::new(heap.ring);
    sq_user.push(&sqe(1)).unwrap();
    let head = sq_kernel.head();
    let mut out = [Sqe::default(); 16];

    // Exactly a full ring is fine.
    header
        .sq_tail
        .store(head.wrapping_add(8), Ordering::Release);
    assert_eq!(sq_kernel.pending(), Ok(8));
    // One more than the ring holds, or a tail behind the head: rejected,
    // nothing read, head untouched, each refusal counted.
    let sq_dropped = |n| assert_eq!(header.sq_dropped.load(Ordering::Relaxed), n);
    for (bad_tail, dropped) in [
        (head.wrapping_add(9), 1),
        (head.wrapping_sub(1), 2),
        (head ^ 0x8000_0000, 3),
    ] {
        header.sq_tail.store(bad_tail, Ordering::Release);
        out[0] = Sqe::default();
        assert_eq!(sq_kernel.pending(), Err(Errno::EINVAL));
        assert_eq!(sq_kernel.take(&mut out), Err(Errno::EINVAL));
        assert_eq!(out[0], Sqe::default());
        assert_eq!(sq_kernel.head(), head);
        assert_eq!(header.sq_head.load(Ordering::Relaxed), head);
        sq_dropped(dropped);
    }
    // A sane tail again: the real SQE is still there.
    header
        .sq_tail
        .store(head.wrapping_add(1), Ordering::Release);
    assert_eq!(sq_kernel.take(&mut out), Ok(1));
    assert_eq!(out[0].user_data, 1);
    sq_dropped(3);
}

#[test]
fn full_cq_reports_and_overflow_is_advertised() {
    let heap = HeapRing::new(RingLayout::new(2, 2).unwrap(), u32::MAX);
    let header = heap.ring.header();
    let mut cq_kernel = CqProducer::new(heap.ring);
    let mut cq_user = CqConsumer::new(heap.ring);
    let cqe = |n| Cqe::new(n, 0, CqeFlags::empty());
    cq_kernel.push(&cqe(0)).unwrap();
    cq_kernel.push(&cqe(1)).unwrap();
    assert_eq!(cq_kernel.push(&cqe(2)), Err(CqFull));
    cq_kernel.set_overflow(1);
    assert_eq!(cq_user.overflow(), 1);
    let flags = SqRingFlags::from_bits_retain(header.sq_flags.load(Ordering::Acquire));
    assert!(flags.contains(SqRingFlags::CQ_OVERFLOW));

    assert_eq!(cq_user.pop().map(|c| c.user_data), Some(0));
    cq_kernel.push(&cqe(2)).unwrap();
    cq_kernel.set_overflow(0);
    assert_eq!(cq_user.overflow(), 0);
    assert_eq!(header.sq_flags.load(Ordering::Acquire), 0);
    assert_eq!(cq_user.ready(), 2);
    cq_user.advance(5);
    assert_eq!(cq_user.ready(), 0);
    assert_eq!(cq_user.peek(), None);
}

#[test]
fn malformed_user_cq_head_means_no_room() {
    let heap = HeapRing::new(RingLayout::new(2, 4).unwrap(), 10);
    let header = heap.ring.header();
    let mut cq_kernel = CqProducer::new(heap.ring);
    let cqe = Cqe::new(1, 0, CqeFlags::empty());
    // Ahead of the tail: would read as 2^32 - 1 free slots if wrapped.
    header.cq_head.store(11, Ordering::Release);
    assert_eq!(cq_kernel.space(), 0);
    assert_eq!(cq_kernel.push(&cqe), Err(CqFull));
    header.cq_head.store(10, Ordering::Release);
    assert_eq!(cq_kernel.space(), 4);
    assert_eq!(cq_kernel.push(&cqe), Ok(()));
    assert_eq!(cq_kernel.tail(), 11);
}

#[test]
fn program_side_checks_the_mapping_it_is_given() {
    let heap = HeapRing::new(RingLayout::new(16, 32).unwrap(), 0);
    let (base, len) = heap.mapping();
    // Every call below names a sub-range of `heap`'s allocation.
    let map = |offset: usize, len: usize| {
        let base = base.map_addr(|a| a.checked_add(offset).unwrap());
        // SAFETY: `base..base + len` lies inside the allocation, which
        // outlives every `RawRing` made here and is only accessed through
        // `RawRing`.
        unsafe { RawRing::from_mapping(base, len) }
    };
    assert_eq!(map(0, len).unwrap().layout(), heap.ring.layout());

    assert_eq!(map(0, len - 1).unwrap_err(), Errno::EINVAL);
    assert_eq!(map(0, 64).unwrap_err(), Errno::EINVAL);
    assert_eq!(map(8, len - 8).unwrap_err(), Errno::EINVAL);

    let header = heap.ring.header();
    let corrupt = [
        &header.sq_mask,
        &header.cq_entries,
        &header.cqes_offset,
        &header.total_bytes,
    ];
    for word in corrupt {
        let good = word.load(Ordering::Relaxed);
        word.store(good + 1, Ordering::Relaxed);
        assert_eq!(map(0, len).unwrap_err(), Errno::EINVAL);
        word.store(good, Ordering::Relaxed);
    }
    assert!(map(0, len).is_ok());
}
