//! Host tests for `buddy`.

use super::*;
use crate::test_rng::XorShift;

/// A fresh allocator over `frames` frames, none of them managed yet.
fn allocator(frames: usize) -> BuddyAllocator {
    let pages: Vec<PageInfo> = (0..frames).map(|_| PageInfo::new_reserved()).collect();
    BuddyAllocator::new(Box::leak(pages.into_boxed_slice()))
}

fn counts(allocator: &BuddyAllocator) -> [usize; ORDER_COUNT] {
    core::array::from_fn(|order| allocator.free_blocks(order))
}

/// Everything `free` could touch, to prove a refused call touched nothing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    pages: Vec<(PageFlags, usize, u32, u32)>,
    free_heads: [u32; ORDER_COUNT],
    free_block_counts: [usize; ORDER_COUNT],
    free_frames: usize,
    managed_frames: usize,
}

fn snapshot(allocator: &BuddyAllocator) -> Snapshot {
    Snapshot {
        pages: allocator
            .pages
            .iter()
            .map(|page| {
                (
                    page.flags(),
                    page.order(),
                    page.prev_free_pfn(),
                    page.next_free_pfn(),
                )
            })
            .collect(),
        free_heads: allocator.free_heads,
        free_block_counts: allocator.free_block_counts,
        free_frames: allocator.free_frames,
        managed_frames: allocator.managed_frames,
    }
}

/// Checks every structural invariant: list links, flags, counts, no
/// overlapping free blocks, no free block containing an unmanaged frame,
/// and no two free buddies of the same order.
fn assert_consistent(allocator: &BuddyAllocator) {
    let pages = &*allocator.pages;
    let mut in_free_block = vec![false; pages.len()];
    let mut free_frames = 0;
    for order in 0..ORDER_COUNT {
        let mut blocks = 0;
        let mut prev = NO_PFN;
        let mut cursor = allocator.free_heads[order];
        while cursor != NO_PFN {
            let pfn = cursor as usize;
            let head = &pages[pfn];
            assert_eq!(head.prev_free_pfn(), prev, "back link of {pfn}");
            assert_eq!(head.flags(), PageFlags::FREE, "flags of free head {pfn}");
            assert_eq!(head.order(), order, "order of free head {pfn}");
            assert!(pfn.is_multiple_of(frames_in(order)), "alignment of {pfn}");
            for frame in pfn..pfn + frames_in(order) {
                assert!(!in_free_block[frame], "frame {frame} in two free blocks");
                in_free_block[frame] = true;
                if frame != pfn {
                    assert_eq!(
                        pages[frame].flags(),
                        PageFlags::empty(),
                        "frame {frame} inside {pfn}"
                    );
                }
            }
            if order < MAX_ORDER {
                let buddy = pages.get(pfn ^ frames_in(order));
                assert!(
                    !buddy.is_some_and(|b| b.is_free_head() && b.order() == order),
                    "free buddies at {pfn} order {order} not merged"
                );
            }
            blocks += 1;
            free_frames += frames_in(order);
            prev = cursor;
            cursor = head.next_free_pfn();
        }
        assert_eq!(
            blocks, allocator.free_block_counts[order],
            "block count of order {order}"
        );
    }
    for (pfn, page) in pages.iter().enumerate() {
        if page.is_free_head() {
            assert!(in_free_block[pfn], "free head {pfn} missing from its list");
        }
    }
    assert_eq!(free_frames, allocator.free_frames());
    let managed = pages.iter().filter(|page| !page.is_reserved()).count();
    assert_eq!(managed, allocator.managed_frames());
}

#[test]
fn unaligned_range_becomes_the_largest_aligned_blocks() {
    let mut allocator = allocator(64);
    allocator.add_free_range(3, 37);
    // 3 | 4..8 | 8..16 | 16..32 | 32..36 | 36
    assert_eq!(counts(&allocator), [2, 0, 2, 1, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(allocator.free_frames(), 34);
    assert_eq!(allocator.managed_frames(), 34);
    for (pfn, order) in [(3, 0), (4, 2), (8, 3), (16, 4), (32, 2), (36, 0)] {
        let page = allocator.page(pfn).unwrap();
        assert!(
            page.is_free_head() && page.order() == order,
            "block at {pfn}"
        );
    }
    assert!(allocator.page(2).unwrap().is_reserved());
    assert!(allocator.page(37).unwrap().is_reserved());
    assert_consistent(&allocator);
}

#[test]
fn large_range_is_capped_at_max_order() {
    let mut allocator = allocator(3000);
    allocator.add_free_range(0, 3000);
    // 2 x 1024 + 512 + 256 + 128 + 32 + 16 + 8 = 3000
    assert_eq!(counts(&allocator), [0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 2]);
    assert_eq!(allocator.free_frames(), 3000);
    assert_consistent(&allocator);
}

#[test]
fn adjacent_ranges_added_separately_merge() {
    let mut allocator = allocator(16);
    allocator.add_free_range(0, 3);
    allocator.add_free_range(3, 8);
    assert_eq!(counts(&allocator)[..4], [0, 0, 0, 1]);
    allocator.add_free_range(8, 16);
    assert_eq!(counts(&allocator)[..5], [0, 0, 0, 0, 1]);
    assert_consistent(&allocator);
}

#[test]
fn adding_managed_frames_again_changes_nothing() {
    let mut allocator = allocator(64);
    allocator.add_free_range(0, 32);
    let held = allocator.alloc(3).unwrap();
    let before = snapshot(&allocator);
    allocator.add_free_range(0, 32);
    assert_eq!(snapshot(&allocator), before);
    // Overlapping on both sides: only 32..40 and 44..48 are new.
    allocator.add_free_range(40, 44);
    allocator.add_free_range(20, 48);
    assert_eq!(allocator.managed_frames(), 48);
    assert!(allocator.page(held).unwrap().is_allocated_head());
    allocator.free(held, 3).unwrap();
    // 0..32 and 32..48, each frame in exactly one block.
    assert_eq!(counts(&allocator)[..6], [0, 0, 0, 0, 1, 1]);
    assert_eq!(allocator.free_frames(), 48);
    assert_consistent(&allocator);
}

#[test]
fn add_free_range_is_clamped_to_the_array() {
    let mut allocator = allocator(10);
    allocator.add_free_range(8, 1000);
    allocator.add_free_range(500, 1000);
    allocator.add_free_range(6, 2);
    assert_eq!(allocator.managed_frames(), 2);
    assert_eq!(counts(&allocator)[..2], [0, 1]);
    assert_consistent(&allocator);
}

#[test]
fn alloc_returns_blocks_aligned_to_every_order() {
    let mut allocator = allocator(4096);
    // Start at an odd frame so that alignment has to come from splitting.
    allocator.add_free_range(1, 4096);
    for order in (0..=MAX_ORDER).rev() {
        let pfn = allocator.alloc(order).unwrap();
        assert!(
            pfn.is_multiple_of(frames_in(order)),
            "order {order} at {pfn}"
        );
        let head = allocator.page(pfn).unwrap();
        assert!(head.is_allocated_head() && head.order() == order);
    }
    assert_consistent(&allocator);
}

#[test]
fn alloc_splits_and_free_merges_back() {
    let mut allocator = allocator(1024);
    allocator.add_free_range(0, 1024);
    let pfn = allocator.alloc(0).unwrap();
    assert_eq!(pfn, 0);
    // One block of each order 0..10 is left over from the splits.
    assert_eq!(counts(&allocator), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    assert_eq!(allocator.free_frames(), 1023);
    assert_consistent(&allocator);
    allocator.free(pfn, 0).unwrap();
    assert_eq!(counts(&allocator), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(allocator.free_frames(), 1024);
    assert_consistent(&allocator);
}

#[test]
fn alloc_fails_above_max_order_and_when_exhausted() {
    let mut allocator = allocator(64);
    allocator.add_free_range(0, 6);
    assert_eq!(allocator.alloc(MAX_ORDER + 1), None);
    assert_eq!(allocator.alloc(3), None, "no 8-frame block in 6 frames");
    assert_eq!(allocator.alloc(2), Some(0));
    assert_eq!(allocator.alloc(2), None);
    assert_eq!(allocator.alloc(1), Some(4));
    assert_eq!(allocator.alloc(0), None);
    assert_eq!(allocator.free_frames(), 0);
    assert_consistent(&allocator);
}

#[test]
fn allocating_every_frame_then_freeing_all_restores_the_initial_blocks() {
    let mut allocator = allocator(3000);
    allocator.add_free_range(5, 2990);
    let initial = counts(&allocator);
    let frames = allocator.free_frames();

    let mut held: Vec<usize> = core::iter::from_fn(|| allocator.alloc(0)).collect();
    assert_eq!(held.len(), frames);
    assert_eq!(allocator.free_frames(), 0);
    assert_eq!(counts(&allocator), [0; ORDER_COUNT]);
    held.sort_unstable();
    held.dedup();
    assert_eq!(
        held,
        (5..2990).collect::<Vec<_>>(),
        "each frame exactly once"
    );

    // Free in a scrambled order so merges happen in every direction.
    let mut rng = XorShift::new(7);
    for index in (1..held.len()).rev() {
        held.swap(index, rng.index(index + 1));
    }
    for pfn in held {
        allocator.free(pfn, 0).unwrap();
    }
    assert_eq!(counts(&allocator), initial);
    assert_eq!(allocator.free_frames(), frames);
    assert_consistent(&allocator);
}

#[test]
fn holes_are_never_handed_out_or_merged_across() {
    let mut allocator = allocator(64);
    allocator.add_free_range(0, 10);
    allocator.add_free_range(11, 64);
    let initial = counts(&allocator);
    // 0..8 | 8..10 | hole | 11 | 12..16 | 16..32 | 32..64
    assert_eq!(initial[..6], [1, 1, 1, 1, 1, 1]);

    let held: Vec<usize> = core::iter::from_fn(|| allocator.alloc(0)).collect();
    assert_eq!(held.len(), 63);
    assert!(!held.contains(&10));
    for &pfn in &held {
        allocator.free(pfn, 0).unwrap();
    }
    assert_eq!(counts(&allocator), initial);
    assert!(allocator.page(10).unwrap().is_reserved());
    assert_eq!(allocator.alloc(6), None, "the hole splits the 64 frames");
    assert_consistent(&allocator);
}

#[test]
fn alloc_below_respects_the_limit() {
    let mut allocator = allocator(2048);
    allocator.add_free_range(0, 2048);
    assert_eq!(allocator.alloc_below(9, 512), Some(0));

    // Free: 512..1024 (order 9) and 1024..2048 (order 10).
    assert_eq!(allocator.alloc_below(9, 1023), None);
    assert_eq!(allocator.alloc_below(10, 2047), None);
    assert_eq!(
        allocator.alloc_below(0, 512),
        None,
        "frames below 512 are taken"
    );
    let pfn = allocator.alloc_below(2, 600).unwrap();
    assert!(pfn + 4 <= 600, "block at {pfn}");
    let pfn = allocator.alloc_below(3, 1100).unwrap();
    assert!(pfn + 8 <= 1100, "block at {pfn}");
    assert_eq!(allocator.alloc_below(MAX_ORDER + 1, usize::MAX), None);
    assert_consistent(&allocator);
}

#[test]
fn alloc_below_exhausts_low_memory_then_fails() {
    let mut allocator = allocator(256);
    allocator.add_free_range(0, 256);
    let low: Vec<usize> = core::iter::from_fn(|| allocator.alloc_below(0, 16)).collect();
    assert_eq!(low.len(), 16);
    assert!(low.iter().all(|&pfn| pfn < 16));
    assert_eq!(allocator.free_frames(), 240, "nothing above 16 was taken");
    assert!(allocator.alloc(0).is_some_and(|pfn| pfn >= 16));
    assert_consistent(&allocator);
}

#[test]
fn refused_frees_report_why_and_change_nothing() {
    let mut allocator = allocator(100);
    allocator.add_free_range(0, 50);
    allocator.add_free_range(51, 100);
    let block = allocator.alloc_below(2, 8).unwrap();
    assert_eq!(block, 0);
    let single = allocator.alloc(0).unwrap();
    assert_eq!(single, 51, "the only order-0 block");
    let freed = allocator.alloc(0).unwrap();
    allocator.free(freed, 0).unwrap();
    let free_head = allocator
        .pages
        .iter()
        .position(PageInfo::is_free_head)
        .unwrap();
    let before = snapshot(&allocator);

    let cases = [
        (100, 0, FreeError::OutOfRange),
        (usize::MAX, 0, FreeError::OutOfRange),
        (96, 3, FreeError::OutOfRange),
        (block, MAX_ORDER + 1, FreeError::WrongOrder),
        (block + 1, 1, FreeError::Misaligned),
        (single | 1, 1, FreeError::Misaligned),
        (block + 1, 0, FreeError::NotAllocated),
        (freed, 0, FreeError::NotAllocated),
        (free_head, 0, FreeError::NotAllocated),
        (50, 0, FreeError::NotAllocated),
        (block, 1, FreeError::WrongOrder),
        (block, 3, FreeError::WrongOrder),
    ];
    for (pfn, order, error) in cases {
        assert_eq!(
            allocator.free(pfn, order),
            Err(error),
            "free({pfn}, {order})"
        );
        assert_eq!(
            snapshot(&allocator),
            before,
            "free({pfn}, {order}) changed state"
        );
    }

    allocator.free(block, 2).unwrap();
    assert_eq!(
        allocator.free(block, 2),
        Err(FreeError::NotAllocated),
        "double free"
    );
    allocator.free(single, 0).unwrap();
    assert_eq!(allocator.free_frames(), 99);
    assert_consistent(&allocator);
}

#[test]
fn frames_beyond_the_array_are_not_counted() {
    let allocator = allocator(8);
    assert!(allocator.page(7).is_some());
    assert!(allocator.page(8).is_none());
    assert_eq!(allocator.free_blocks(MAX_ORDER + 1), 0);
    assert_eq!(
        (allocator.free_frames(), allocator.managed_frames()),
        (0, 0)
    );
}

#[test]
fn new_resets_a_used_array() {
    let pages: Vec<PageInfo> = (0..16).map(|_| PageInfo::new_reserved()).collect();
    let pages = Box::leak(pages.into_boxed_slice());
    pages[3].set_flags(PageFlags::FREE);
    pages[3].set_free_links(1, 2);
    let allocator = BuddyAllocator::new(pages);
    assert!(
        allocator
            .pages
            .iter()
            .all(|page| page.flags() == PageFlags::RESERVED)
    );
    assert_eq!(allocator.page(3).unwrap().next_free_pfn(), NO_PFN);
    assert_consistent(&allocator);
}

#[test]
fn random_alloc_and_free_agree_with_a_model() {
    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Frame {
        Hole,
        Free,
        Held,
    }
    const FRAMES: usize = 2100;
    let mut allocator = allocator(FRAMES);
    let mut model = [Frame::Hole; FRAMES];
    for (start, end) in [(1, 700), (705, 2000), (2003, 2100)] {
        allocator.add_free_range(start, end);
        model[start..end].fill(Frame::Free);
    }
    let initial = counts(&allocator);
    let fits = |model: &[Frame], order: usize, limit: usize| {
        (0..FRAMES)
            .step_by(frames_in(order))
            .filter(|pfn| pfn + frames_in(order) <= limit.min(FRAMES))
            .any(|pfn| {
                model[pfn..pfn + frames_in(order)]
                    .iter()
                    .all(|&f| f == Frame::Free)
            })
    };

    let mut rng = XorShift::new(0xb0dd);
    let mut held: Vec<(usize, usize)> = Vec::new();
    let (mut allocations, mut failures) = (0, 0);
    for step in 0..20_000_usize {
        let roll = rng.index(100);
        if roll < 55 || held.is_empty() {
            let order = [0, 0, 0, 1, 1, 2, 3, 4, 6, 8][rng.index(10)];
            let limit = if roll.is_multiple_of(4) {
                rng.index(FRAMES + 1)
            } else {
                usize::MAX
            };
            let result = if limit == usize::MAX {
                allocator.alloc(order)
            } else {
                allocator.alloc_below(order, limit)
            };
            match result {
                Some(pfn) => {
                    assert!(pfn.is_multiple_of(frames_in(order)));
                    assert!(pfn + frames_in(order) <= limit.min(FRAMES));
                    for frame in &mut model[pfn..pfn + frames_in(order)] {
                        assert_eq!(*frame, Frame::Free, "step {step}: block at {pfn} overlaps");
                        *frame = Frame::Held;
                    }
                    held.push((pfn, order));
                    allocations += 1;
                }
                // Full merging means a failure is only allowed when no
                // aligned, wholly free block of the order exists.
                None => {
                    assert!(
                        !fits(&model, order, limit),
                        "step {step}: order {order} below {limit}"
                    );
                    failures += 1;
                }
            }
        } else if roll < 95 {
            let (pfn, order) = held.swap_remove(rng.index(held.len()));
            allocator.free(pfn, order).unwrap();
            model[pfn..pfn + frames_in(order)].fill(Frame::Free);
        } else {
            // A bogus free: a block just freed again, or with the wrong order.
            let (pfn, order) = held[rng.index(held.len())];
            let before = snapshot(&allocator);
            let wrong_order = if order == 0 { 1 } else { order - 1 };
            assert!(allocator.free(pfn, wrong_order).is_err());
            assert_eq!(snapshot(&allocator), before);
        }
        let model_free = model.iter().filter(|&&frame| frame == Frame::Free).count();
        assert_eq!(allocator.free_frames(), model_free, "step {step}");
        if step.is_multiple_of(97) {
            assert_consistent(&allocator);
        }
    }
    assert!(
        allocations > 1000 && failures > 100,
        "{allocations} / {failures}"
    );

    for (pfn, order) in held {
        allocator.free(pfn, order).unwrap();
    }
    assert_eq!(counts(&allocator), initial);
    assert_consistent(&allocator);
}

#[test]
fn a_pinned_frame_freed_by_its_owner_is_freed_by_its_last_unpin() {
    let mut buddy = allocator(64);
    buddy.add_free_range(0, 64);
    let pfn = buddy.alloc(0).unwrap();
    let free_before = buddy.free_frames();
    buddy.page(pfn).unwrap().pin();
    buddy.page(pfn).unwrap().pin();
    assert_eq!(buddy.free_unless_pinned(pfn), Ok(false));
    assert_eq!(buddy.free_frames(), free_before, "still in use by the pins");
    assert!(buddy.page(pfn).unwrap().is_allocated_head());
    assert_eq!(buddy.unpin(pfn), Some(1));
    assert_eq!(buddy.free_frames(), free_before);
    assert_eq!(buddy.unpin(pfn), Some(0));
    assert_eq!(
        buddy.free_frames(),
        free_before + 1,
        "the last unpin freed it"
    );
    assert_eq!(buddy.unpin(pfn), None, "no pin left to drop");
    assert_consistent(&buddy);
}

#[test]
fn an_unpinned_frame_is_freed_at_once_and_a_pin_alone_frees_nothing() {
    let mut buddy = allocator(64);
    buddy.add_free_range(0, 64);
    let (a, b) = (buddy.alloc(0).unwrap(), buddy.alloc(0).unwrap());
    let free_before = buddy.free_frames();
    assert_eq!(buddy.free_unless_pinned(a), Ok(true));
    assert_eq!(buddy.free_frames(), free_before + 1);
    buddy.page(b).unwrap().pin();
    assert_eq!(buddy.unpin(b), Some(0));
    assert!(
        buddy.page(b).unwrap().is_allocated_head(),
        "unpinning is not freeing"
    );
    assert_eq!(buddy.free_unless_pinned(b), Ok(true));
    assert_consistent(&buddy);
}

#[test]
fn a_shared_frame_is_freed_by_its_last_owner_only() {
    let mut buddy = allocator(64);
    buddy.add_free_range(0, 64);
    let pfn = buddy.alloc(0).unwrap();
    let free_before = buddy.free_frames();
    buddy.page(pfn).unwrap().share();
    buddy.page(pfn).unwrap().share();
    assert_eq!(buddy.free(pfn, 0), Err(FreeError::Shared), "owners remain");
    assert_eq!(buddy.release_owner(pfn), Ok(false));
    assert_eq!(buddy.release_owner(pfn), Ok(false));
    assert_eq!(buddy.free_frames(), free_before, "one owner is left");
    // The last owner's release frees it, after the pins as ever.
    buddy.page(pfn).unwrap().pin();
    assert_eq!(buddy.release_owner(pfn), Ok(false));
    assert_eq!(buddy.free_frames(), free_before);
    assert_eq!(buddy.unpin(pfn), Some(0));
    assert_eq!(buddy.free_frames(), free_before + 1);
    assert_eq!(buddy.release_owner(pfn), Err(FreeError::NotAllocated));
    assert_consistent(&buddy);
}
