//! Host tests for `region`: argument checks, splits (of splits) and their
//! offsets, unmap and protect over several regions and holes, refusals
//! that change nothing, placement, and the region ceiling.  A randomized
//! comparison with a per-page model is in `region_model_tests.rs`; the
//! range arithmetic at the edges of the address space in
//! `region_range_tests.rs`.

use super::*;

#[path = "region_model_tests.rs"]
mod model;
#[path = "region_range_tests.rs"]
mod range_edges;

const fn protection(readable: bool, writable: bool, executable: bool) -> Protection {
    Protection {
        readable,
        writable,
        executable,
    }
}

const RW: Protection = protection(true, true, false);
const R: Protection = protection(true, false, false);
const RX: Protection = protection(true, false, true);
const RWX: Protection = protection(true, true, true);
const NONE: Protection = protection(false, false, false);
const MMAPPED: RegionFlags = RegionFlags::USER_ACCESSIBLE.union(RegionFlags::MMAPPED);
/// A stack the kernel made for a thread: user space may not unmap it.
const KERNEL_STACK: RegionFlags = RegionFlags::USER_ACCESSIBLE.union(RegionFlags::STACK);

/// The last page of the 64-bit address space.
const TOP_PAGE: u64 = u64::MAX - (PAGE_SIZE - 1);

/// The address of page `n`.
const fn page(n: u64) -> u64 {
    n * PAGE_SIZE
}

fn range(start: u64, end: u64) -> PageRange {
    PageRange::new(start, end).unwrap()
}

/// An `MMAP`ed read-write region over pages `[first, last)` of `object`,
/// from `offset` on.
fn mapped(first: u64, last: u64, object: u32, offset: u64) -> Region<u32> {
    Region::new(range(page(first), page(last)), RW, MMAPPED, object, offset).unwrap()
}

fn tree_of(regions: impl IntoIterator<Item = Region<u32>>) -> RegionTree<u32> {
    let mut tree = RegionTree::new();
    for region in regions {
        tree.insert(region).unwrap();
    }
    tree
}

/// `(first page, last page, object, offset, protection)` of every region.
fn layout(tree: &RegionTree<u32>) -> Vec<(u64, u64, u32, u64, Protection)> {
    tree.iter().map(piece).collect()
}

fn piece(region: &Region<u32>) -> (u64, u64, u32, u64, Protection) {
    (
        region.start() / PAGE_SIZE,
        region.end() / PAGE_SIZE,
        *region.object(),
        region.offset(),
        region.protection(),
    )
}

#[test]
fn user_protections_decode_and_refuse_write_execute() {
    assert_eq!(Protection::from_user(0), Ok(NONE));
    assert_eq!(Protection::from_user(0x1), Ok(R));
    assert_eq!(Protection::from_user(0x3), Ok(RW));
    assert_eq!(Protection::from_user(0x5), Ok(RX));
    assert_eq!(Protection::from_user(0x6), Err(Errno::EACCES));
    assert_eq!(Protection::from_user(0x7), Err(Errno::EACCES));
    assert_eq!(Protection::from_user(0x8), Err(Errno::EINVAL));
    for raw in 0..8 {
        let prot = ProtFlags::from_bits(raw).unwrap();
        assert_eq!(ProtFlags::from(Protection::from(prot)), prot);
    }
}

#[test]
fn munmap_ranges_are_checked_like_linux() {
    let end = USER_END;
    assert_eq!(PageRange::for_munmap(0x1000, 1), Ok(range(0x1000, 0x2000)));
    assert_eq!(PageRange::for_munmap(0, 0x2000), Ok(range(0, 0x2000)));
    assert_eq!(
        PageRange::for_munmap(end - 0x1000, 0x1000).map(PageRange::end),
        Ok(end)
    );
    assert_eq!(PageRange::for_munmap(0x1001, 0x1000), Err(Errno::EINVAL));
    assert_eq!(PageRange::for_munmap(0x1000, 0), Err(Errno::EINVAL));
    assert_eq!(
        PageRange::for_munmap(end - 0x1000, 0x1001),
        Err(Errno::EINVAL)
    );
    assert_eq!(PageRange::for_munmap(end, 0x1000), Err(Errno::EINVAL));
    assert_eq!(PageRange::for_munmap(0x1000, u64::MAX), Err(Errno::EINVAL));
    assert_eq!(PageRange::for_munmap(TOP_PAGE, 0x1000), Err(Errno::EINVAL));
}

#[test]
fn mprotect_and_mmap_ranges_are_checked_like_linux() {
    let end = USER_END;
    assert_eq!(
        PageRange::for_mprotect(0x4000, 0x1800),
        Ok(range(0x4000, 0x6000))
    );
    assert_eq!(PageRange::for_mprotect(0x4800, 0x1000), Err(Errno::EINVAL));
    assert_eq!(PageRange::for_mprotect(0x4000, 0), Err(Errno::EINVAL));
    assert_eq!(PageRange::for_mprotect(end, 0x1000), Err(Errno::ENOMEM));
    assert_eq!(
        PageRange::for_mprotect(0x1000, u64::MAX),
        Err(Errno::ENOMEM)
    );
    assert_eq!(PageRange::for_mprotect(TOP_PAGE, 1), Err(Errno::ENOMEM));

    assert_eq!(
        PageRange::for_mmap_fixed(0x1000, 1),
        Ok(range(0x1000, 0x2000))
    );
    assert_eq!(PageRange::for_mmap_fixed(0, 0x1000), Err(Errno::EPERM));
    assert_eq!(
        PageRange::for_mmap_fixed(0x1080, 0x1000),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        PageRange::for_mmap_fixed(end - 0x1000, 0x2000),
        Err(Errno::ENOMEM)
    );

    assert_eq!(mmap_len(1), Ok(PAGE_SIZE));
    assert_eq!(mmap_len(PAGE_SIZE + 1), Ok(2 * PAGE_SIZE));
    assert_eq!(mmap_len(0), Err(Errno::EINVAL));
    assert_eq!(mmap_len(u64::MAX), Err(Errno::ENOMEM));
    assert_eq!(mmap_len(end), Err(Errno::ENOMEM));
    assert_eq!(mmap_len(end - USER_MIN), Ok(end - USER_MIN));
}

#[test]
fn page_ranges_and_regions_refuse_bad_shapes() {
    assert_eq!(PageRange::new(0x2000, 0x2000), Err(Errno::EINVAL));
    assert_eq!(PageRange::new(0x3000, 0x2000), Err(Errno::EINVAL));
    assert_eq!(PageRange::new(0x2000, 0x2800), Err(Errno::EINVAL));
    assert_eq!(
        PageRange::new(0x2000, USER_END + 0x1000),
        Err(Errno::EINVAL)
    );
    let two_pages = range(0x2000, 0x4000);
    let make = |offset| Region::new(two_pages, RW, MMAPPED, 0u32, offset);
    assert_eq!(make(0x10).map(|_| ()), Err(Errno::EINVAL));
    assert_eq!(make(TOP_PAGE).map(|_| ()), Err(Errno::EOVERFLOW));
    let last = make(u64::MAX - 0x2fff).map(|r| r.offset_of(0x3000));
    assert_eq!(last, Ok(u64::MAX - 0x1fff));
}

#[test]
fn insert_refuses_every_overlap_and_changes_nothing() {
    let mut tree = tree_of([mapped(10, 20, 1, 0)]);
    let before = tree.clone();
    for (first, last) in [(10, 20), (5, 11), (19, 25), (5, 25), (12, 13)] {
        assert_eq!(tree.insert(mapped(first, last, 2, 0)), Err(Errno::EEXIST));
        assert_eq!(tree, before, "pages {first}..{last}");
    }
    tree.insert(mapped(5, 10, 2, 0)).unwrap();
    tree.insert(mapped(20, 21, 3, 0)).unwrap();
    assert_eq!(tree.len(), 3);
}

#[test]
fn only_user_made_regions_must_not_be_writable_and_executable() {
    let mut tree = RegionTree::new();
    let any = range(page(1), page(2));
    let user_wx = Region::new(any, RWX, MMAPPED, 0u32, 0).unwrap();
    assert_eq!(tree.insert(user_wx), Err(Errno::EACCES));
    // An ELF segment asking for W+X is the kernel's decision, not an MMAP.
    let image = Region::new(any, RWX, RegionFlags::USER_ACCESSIBLE, 0u32, 0).unwrap();
    tree.insert(image).unwrap();
    assert_eq!(tree.find(page(1)).map(Region::protection), Some(RWX));
}

#[test]
fn find_and_overlapping_respect_half_open_ends() {
    let tree = tree_of([mapped(10, 20, 1, 0), mapped(30, 40, 2, 0)]);
    assert_eq!(tree.find(page(10)).map(|r| *r.object()), Some(1));
    assert_eq!(tree.find(page(20) - 1).map(|r| *r.object()), Some(1));
    assert!(tree.find(page(20)).is_none());
    assert!(tree.find(page(10) - 1).is_none());
    assert_eq!(tree.find(page(39)).map(|r| *r.object()), Some(2));
    let objects = |first, last| -> Vec<u32> {
        let touched = tree.overlapping(range(page(first), page(last)));
        touched.map(|r| *r.object()).collect()
    };
    assert_eq!(objects(19, 31), [1, 2]);
    assert_eq!(objects(20, 30), [0u32; 0]);
    assert_eq!(objects(15, 16), [1]);
    assert!(tree.is_free(range(page(40), page(50))));
}

#[test]
fn splits_of_splits_keep_the_offset_in_the_object() {
    // Pages 16..32 show the object from 5 pages in.
    let mut tree = tree_of([mapped(16, 32, 7, page(5))]);
    assert_eq!(tree.split_at(page(24)), Ok(true));
    assert_eq!(tree.split_at(page(28)), Ok(true));
    assert_eq!(tree.split_at(page(18)), Ok(true));
    assert_eq!(tree.split_at(page(29)), Ok(true));
    assert_eq!(
        layout(&tree),
        [
            (16, 18, 7, page(5), RW),
            (18, 24, 7, page(7), RW),
            (24, 28, 7, page(13), RW),
            (28, 29, 7, page(17), RW),
            (29, 32, 7, page(18), RW),
        ]
    );
    for n in 16..32 {
        let region = tree.find(page(n)).unwrap();
        assert_eq!(region.offset_of(page(n)), page(n - 16 + 5), "page {n}");
    }
    // At an edge, in a hole, or unaligned: nothing to split.
    let before = tree.clone();
    assert_eq!(tree.split_at(page(24)), Ok(false));
    assert_eq!(tree.split_at(page(32)), Ok(false));
    assert_eq!(tree.split_at(page(40)), Ok(false));
    assert_eq!(tree.split_at(page(20) + 8), Err(Errno::EINVAL));
    assert_eq!(tree, before);
}

#[test]
fn unmap_of_the_middle_leaves_both_ends_with_their_offsets() {
    let mut tree = tree_of([mapped(10, 20, 3, page(100))]);
    let removed = tree.unmap(range(page(13), page(15))).unwrap();
    assert_eq!(
        removed.iter().map(piece).collect::<Vec<_>>(),
        [(13, 15, 3, page(103), RW)]
    );
    assert_eq!(
        layout(&tree),
        [(10, 13, 3, page(100), RW), (15, 20, 3, page(105), RW)]
    );
}

#[test]
fn unmap_across_regions_and_holes_removes_exactly_the_range() {
    // 10..14 | hole | 16..20 20..24 | hole | 30..40
    let mut tree = tree_of([
        mapped(10, 14, 1, 0),
        mapped(16, 20, 2, page(8)),
        mapped(20, 24, 3, 0),
        mapped(30, 40, 4, page(1)),
    ]);
    let removed = tree.unmap(range(page(12), page(33))).unwrap();
    assert_eq!(
        removed.iter().map(piece).collect::<Vec<_>>(),
        [
            (12, 14, 1, page(2), RW),
            (16, 20, 2, page(8), RW),
            (20, 24, 3, 0, RW),
            (30, 33, 4, page(1), RW),
        ]
    );
    assert_eq!(
        layout(&tree),
        [(10, 12, 1, 0, RW), (33, 40, 4, page(4), RW)]
    );
    // Only holes: nothing to do, and that is fine.
    assert_eq!(tree.unmap(range(page(14), page(30))), Ok(Vec::new()));
    assert_eq!(tree.len(), 2);
}

#[test]
fn unmap_touching_a_region_mmap_did_not_make_is_refused_whole() {
    let stack = Region::new(range(page(20), page(30)), RW, KERNEL_STACK, 9, 0).unwrap();
    let mut tree = tree_of([mapped(10, 20, 1, 0), stack, mapped(30, 40, 2, 0)]);
    let before = tree.clone();
    for (first, last) in [(15, 35), (29, 30), (19, 21), (20, 30)] {
        let unmapped = range(page(first), page(last));
        assert_eq!(tree.check_unmap(unmapped), Err(Errno::EPERM));
        assert_eq!(tree.unmap(unmapped), Err(Errno::EPERM), "{first}..{last}");
        assert_eq!(tree, before);
    }
    let fixed = mapped(15, 25, 5, 0);
    assert_eq!(tree.replace(fixed), Err(Errno::EPERM));
    assert_eq!(tree, before);
}

#[test]
fn replace_puts_a_fixed_mapping_over_what_was_there() {
    let mut tree = tree_of([mapped(10, 20, 1, 0), mapped(22, 30, 2, 0)]);
    let removed = tree.replace(mapped(15, 25, 5, page(50))).unwrap();
    assert_eq!(
        removed.iter().map(piece).collect::<Vec<_>>(),
        [(15, 20, 1, page(5), RW), (22, 25, 2, 0, RW)]
    );
    assert_eq!(
        layout(&tree),
        [
            (10, 15, 1, 0, RW),
            (15, 25, 5, page(50), RW),
            (25, 30, 2, page(3), RW),
        ]
    );
    let wx = Region::new(range(page(40), page(41)), RWX, MMAPPED, 6, 0).unwrap();
    let before = tree.clone();
    assert_eq!(tree.replace(wx), Err(Errno::EACCES));
    assert_eq!(tree, before);
}

#[test]
fn protect_of_part_of_a_region_splits_only_where_it_changes() {
    let mut tree = tree_of([mapped(10, 20, 1, page(4))]);
    assert_eq!(
        tree.protect(range(page(12), page(15)), R),
        Ok(vec![(page(12), page(15))])
    );
    assert_eq!(
        layout(&tree),
        [
            (10, 12, 1, page(4), RW),
            (12, 15, 1, page(6), R),
            (15, 20, 1, page(9), RW),
        ]
    );
    // Already read-only: no split, nothing to update.
    assert_eq!(tree.protect(range(page(13), page(14)), R), Ok(Vec::new()));
    assert_eq!(tree.len(), 3);
    // Across all three: only the read-write pieces change, and the
    // changed ranges come back as they lie, not merged across the middle.
    assert_eq!(
        tree.protect(range(page(11), page(17)), R),
        Ok(vec![(page(11), page(12)), (page(15), page(17))])
    );
    assert_eq!(tree.find(page(10)).map(Region::protection), Some(RW));
    assert_eq!(tree.find(page(17)).map(Region::protection), Some(RW));
    assert_eq!(
        tree.find(page(16)).map(|r| r.offset_of(page(16))),
        Some(page(10))
    );
}

#[test]
fn protect_coalesces_adjacent_changed_regions() {
    let mut tree = tree_of([mapped(10, 12, 1, 0), mapped(12, 14, 2, 0)]);
    assert_eq!(
        tree.protect(range(page(10), page(14)), NONE),
        Ok(vec![(page(10), page(14))])
    );
    assert_eq!(tree.len(), 2);
}

#[test]
fn protect_refusals_change_nothing() {
    let stack = Region::new(range(page(30), page(32)), RW, KERNEL_STACK, 9, 0).unwrap();
    let mut tree = tree_of([mapped(10, 20, 1, 0), mapped(22, 30, 2, 0), stack]);
    let before = tree.clone();
    let cases = [
        (10, 20, RWX, Errno::EACCES),
        // A hole in the middle, at the start, at the end.
        (15, 25, R, Errno::ENOMEM),
        (8, 12, R, Errno::ENOMEM),
        (25, 35, R, Errno::EPERM),
        (28, 31, R, Errno::EPERM),
        (18, 31, R, Errno::ENOMEM),
        (40, 41, R, Errno::ENOMEM),
    ];
    for (first, last, protection, errno) in cases {
        let protected = range(page(first), page(last));
        assert_eq!(tree.check_protect(protected, protection), Err(errno));
        assert_eq!(
            tree.protect(protected, protection),
            Err(errno),
            "{first}..{last}"
        );
        assert_eq!(tree, before);
    }
}

#[test]
fn find_free_places_top_down_within_bounds() {
    let tree = tree_of([
        mapped(10, 20, 1, 0),
        mapped(24, 30, 2, 0),
        mapped(40, 50, 3, 0),
    ]);
    let enomem = Err(Errno::ENOMEM);
    // (pages, bounds in pages, where it goes)
    let cases = [
        (1, (8, 45), Ok(page(39))),
        (10, (8, 45), Ok(page(30))),
        (4, (8, 40), Ok(page(36))),
        (11, (8, 45), enomem),
        // Below every region: the gap at the bottom of the bounds.
        (2, (8, 12), Ok(page(8))),
        (3, (8, 12), enomem),
        // An exact fit between two regions.
        (4, (12, 30), Ok(page(20))),
        // Bounds inside one region.
        (1, (42, 45), enomem),
    ];
    for (pages, (lo, hi), expected) in cases {
        let bounds = range(page(lo), page(hi));
        let placed = tree.find_free(page(pages), 0, bounds);
        assert_eq!(placed, expected, "{pages} pages in {lo}..{hi}");
    }
    let bounds = range(page(8), page(45));
    assert_eq!(tree.find_free(100, 0, bounds), Err(Errno::EINVAL));
    assert_eq!(tree.find_free(0, 0, bounds), Err(Errno::EINVAL));
}

#[test]
fn find_free_takes_a_hint_only_when_it_fits() {
    let tree = tree_of([mapped(10, 20, 1, 0), mapped(24, 30, 2, 0)]);
    let bounds = range(page(8), page(60));
    assert_eq!(tree.find_free(page(2), page(20), bounds), Ok(page(20)));
    assert_eq!(tree.find_free(page(2), page(20) - 5, bounds), Ok(page(20)));
    assert_eq!(tree.find_free(page(2), page(8), bounds), Ok(page(8)));
    // Overlapping a region, past the bounds, below them: top-down instead.
    for hint in [page(19), page(23), page(59), page(4), u64::MAX - 1] {
        assert_eq!(
            tree.find_free(page(2), hint, bounds),
            Ok(page(58)),
            "{hint:#x}"
        );
    }
}

#[test]
fn the_region_ceiling_refuses_splits_and_changes_nothing() {
    let mut tree = RegionTree::with_max_regions(3);
    tree.insert(mapped(10, 20, 1, 0)).unwrap();
    tree.protect(range(page(12), page(14)), R).unwrap();
    assert_eq!(tree.len(), 3);
    let before = tree.clone();
    assert_eq!(tree.insert(mapped(30, 31, 2, 0)), Err(Errno::ENOMEM));
    assert_eq!(tree.split_at(page(11)), Err(Errno::ENOMEM));
    assert_eq!(tree.unmap(range(page(16), page(17))), Err(Errno::ENOMEM));
    assert_eq!(
        tree.protect(range(page(15), page(16)), NONE),
        Err(Errno::ENOMEM)
    );
    assert_eq!(tree.replace(mapped(16, 17, 2, 0)), Err(Errno::ENOMEM));
    assert_eq!(tree, before);
    // What does not grow the tree still works at the ceiling.
    assert_eq!(
        tree.protect(range(page(10), page(14)), R).map(|c| c.len()),
        Ok(1)
    );
    assert_eq!(tree.split_at(page(12)), Ok(false));
    assert_eq!(tree.replace(mapped(10, 12, 2, 0)).map(|r| r.len()), Ok(1));
    assert_eq!(
        tree.unmap(range(page(19), page(20))).map(|r| r.len()),
        Ok(1)
    );
    assert_eq!(tree.len(), 3);
}
